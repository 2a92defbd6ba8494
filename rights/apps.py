from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RightsConfig(AppConfig):
    name = "rights"
    verbose_name = _("Rights requests")

    def ready(self) -> None:
        from . import jobs  # noqa: F401  (registers the rights_fulfil job kind)
        from .fulfilment import access, erasure, objection, rectification, restriction  # noqa: F401
