"""The app's URLs plus the benchmarks' baseline views under /bench/ (never served by the app)."""
from django.urls import path

from config.urls import urlpatterns as app_urlpatterns

from . import views

urlpatterns = [
    path("bench/ping/", views.ping),
    path("bench/bare-post/", views.bare_post),
    path("bench/drf-ping/", views.drf_ping),
    path("bench/drf-bare-post/", views.drf_bare_post),
    *app_urlpatterns,
]
