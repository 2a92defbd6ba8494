from django.urls import include, path

urlpatterns = [
    path("registry/", include("registry.api.urls")),
    path("consent/", include("consent.api.urls")),
    path("rights/", include("rights.api.urls")),
    path("", include("registry.api.job_urls")),
]
