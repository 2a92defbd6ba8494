from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class DPODeskAdminConfig(AdminConfig):
    default_site = "registry.admin_site.DPODeskAdminSite"


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = _("Processing register")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the data-map system check)
        from .api import authentication  # noqa: F401  (connects the API auth cache's invalidation)
        from . import erasure  # noqa: F401  (registers the rights_delete_files job kind)
        from .datamap import autodiscover
        from .exports import pdf  # noqa: F401  (registers the register_pdf job kind)

        autodiscover()
