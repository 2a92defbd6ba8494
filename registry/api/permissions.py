from rest_framework.permissions import DjangoModelPermissions


class RoleModelPermissions(DjangoModelPermissions):
    """Model permissions, reads included: the groups' permissions (registry.roles) are the rule.

    Auditors and staff hold view_* on the register, the DPO add/change/delete; the
    integration group holds none of the register's.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }
