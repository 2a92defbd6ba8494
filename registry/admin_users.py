"""Users named on admin pages (who recorded an event, requested a job, changed a record…). Django
links a read-only foreign key to the related object's admin page, and django-simple-history links
each change's author; but the user admin is for administrators: the dpo, staff and auditor groups
may not open it (the link would answer 403). For them, a user shows as plain text."""
from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.auth import get_user_model
from simple_history.admin import SimpleHistoryAdmin

TEXT_SUFFIX = "_as_text"


def may_view_users(request, admin_site: admin.AdminSite) -> bool:
    try:
        user_admin = admin_site.get_model_admin(get_user_model())
    except NotRegistered:
        return False
    return user_admin.has_view_permission(request)


class UsersAsTextMixin:
    """For a viewer who may not view users: each of ``user_fields`` (read-only foreign keys to users)
    is replaced, in the fieldsets and the read-only fields, by ``<name>_as_text``; the history page
    names each change's author without a link."""

    user_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.user_fields:
            setattr(self, name + TEXT_SUFFIX, self._user_as_text(name))

    def _user_as_text(self, name: str):
        @admin.display(description=self.model._meta.get_field(name).verbose_name)
        def user_as_text(obj):
            user = getattr(obj, name)
            return str(user) if user is not None else self.get_empty_value_display()

        return user_as_text

    def _as_text(self, names):
        return tuple(self._as_text(name) if isinstance(name, (list, tuple))
                     else name + TEXT_SUFFIX if name in self.user_fields else name for name in names)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self.user_fields or may_view_users(request, self.admin_site):
            return fieldsets
        return [(title, {**options, "fields": self._as_text(options["fields"])}) for title, options in fieldsets]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if not self.user_fields or may_view_users(request, self.admin_site):
            return fields
        return self._as_text(fields)

    def history_view(self, request, object_id, extra_context=None):
        if not may_view_users(request, self.admin_site):
            # simple_history's list reverses this name "as" a variable: unresolved, the author is plain text.
            extra_context = {**(extra_context or {}), "admin_user_view": ""}
        return super().history_view(request, object_id, extra_context)


class HistoryAdmin(UsersAsTextMixin, SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose history page links an author to the user admin only for viewers who may open it."""
