from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

handler404 = "registry.api.errors.page_not_found"  # JSON under /api/, the HTML page elsewhere

urlpatterns = [
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("registry.urls")),
]
# French by default at /, English under /en/.
urlpatterns += i18n_patterns(
    path("admin/", admin.site.urls),
    path("", include("consent.urls")),
    path("", include("rights.urls")),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    prefix_default_language=False,
)
