"""The requester's public pages (mounted inside i18n_patterns: French at /, English under /en/)."""
from django.urls import path

from . import views

app_name = "rights"
urlpatterns = [
    path("rights/new/", views.request_new, name="new"),
    path("rights/sent/", views.request_sent, name="sent"),
    path("rights/verify/<str:token>/", views.verify, name="verify"),
    path("rights/status/<str:token>/", views.status, name="status"),
    path("rights/status/<str:token>/answer/", views.answer, name="answer"),
    path("rights/status/<str:token>/withdraw/", views.withdraw, name="withdraw"),
    path("rights/download/<str:token>/", views.download, name="download"),
]
