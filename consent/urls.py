from django.urls import path

from . import views

app_name = "consent"
urlpatterns = [
    path("forms/<slug:slug>/", views.public_form, name="public-form"),
    path("staff/forms/<slug:slug>/", views.staff_form, name="staff-form"),
    path("privacy/<slug:slug>/", views.privacy_notice, name="privacy-notice"),
    path("consent/confirm/<str:token>/", views.confirm, name="confirm"),
    path("preferences/", views.preferences_request, name="preferences-request"),
    path("preferences/<str:token>/", views.preferences, name="preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
