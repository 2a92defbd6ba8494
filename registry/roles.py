"""The four groups and what each may do. Run by data migrations (and again by later apps').

- dpo: everything on the register, consent and rights, and the periodic-task schedule.
- staff: reads the register; records consent and handles rights requests (no deletions).
- auditor: reads everything, changes nothing.
- integration: API only, no admin access; its permissions are the API's (events, check,
  audience, filing requests), granted by the apps that provide those endpoints, and the read of
  the register's purposes and channels, whose slugs and codes those endpoints take.
"""
from __future__ import annotations

DOMAIN_APPS = ("registry", "consent", "rights")
AUDITED_APPS = DOMAIN_APPS + ("django_celery_beat",)
REGISTER_APP = "registry"
# What staff may create or change outside the register: the job journal (register exports).
STAFF_REGISTRY_ACTIONS = {("add", "job")}
# Integration permissions, by app: (action, model) pairs.
INTEGRATION_PERMISSIONS = {
    # The slugs and codes the consent endpoints take (design §4: "registry/purposes/, registry/channels/
    # — read"): what a notice already tells the public. The activities and the rest of the register stay the DPO's.
    "registry": {("view", "purpose"), ("view", "channel")},
    "consent": {("add", "consentevent"), ("view", "consentevent"), ("view", "consentstate"),
                ("view", "contact"), ("add", "contact")},
    "rights": {("add", "rightsrequest"), ("view", "rightsrequest")},
}
ROLES = ("dpo", "staff", "auditor", "integration")


def _action(codename: str) -> str:
    return codename.split("_", 1)[0]


def permissions_for(role: str, permissions) -> list:
    """The permissions of ``role`` among ``permissions`` (Permission rows with content_type loaded)."""
    chosen = []
    for perm in permissions:
        app = perm.content_type.app_label
        model = perm.content_type.model
        action = _action(perm.codename)
        if role == "dpo":
            keep = app in AUDITED_APPS
        elif role == "auditor":
            keep = app in AUDITED_APPS and action == "view"
        elif role == "staff":
            if app == REGISTER_APP:
                keep = action == "view" or (action, model) in STAFF_REGISTRY_ACTIONS
            else:
                keep = app in DOMAIN_APPS and action in {"view", "add", "change"}
        elif role == "integration":
            keep = (action, model) in INTEGRATION_PERMISSIONS.get(app, set())
        else:
            raise ValueError(f"unknown role {role}")
        if keep:
            chosen.append(perm)
    return chosen


def sync_roles(apps) -> None:
    """Create the groups and set their permissions exactly (idempotent). ``apps``: a registry."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(Permission.objects.select_related("content_type"))
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(permissions_for(role, permissions))


def create_all_permissions(apps) -> None:
    """Permissions are normally made after migrate; a data migration needs them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
