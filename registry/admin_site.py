from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _


class DPODeskAdminSite(admin.AdminSite):
    site_header = _("DPO Desk")
    site_title = _("DPO Desk")
    index_title = _("Register, consent and rights")

    def get_urls(self):
        from .admin_views import datamap_view, register_export_view

        extra = [
            path("datamap/", self.admin_view(datamap_view), name="datamap"),
            path("register-export/", self.admin_view(register_export_view), name="register_export"),
        ]
        return extra + super().get_urls()
