from rest_framework.permissions import DjangoModelPermissions

from .authentication import TokenAuth


class RoleModelPermissions(DjangoModelPermissions):
    """Model permissions, reads included: the groups' permissions (registry.roles) are the rule.

    Auditors and staff hold view_* on the register, the DPO add/change/delete; the
    integration group holds none of the register's.

    A token-authenticated request carries its permission names (registry.api.authentication.TokenAuth,
    from the cache): they answer without loading the user or querying its groups.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view):
        if not isinstance(request.auth, TokenAuth):
            return super().has_permission(request, view)
        # DjangoModelPermissions' steps, with the token's permissions instead of request.user's.
        if getattr(view, "_ignore_model_permissions", False):
            return True
        perms = self.get_required_permissions(request.method, self._queryset(view).model)
        return request.auth.has_perms(perms)
