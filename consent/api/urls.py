from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("contacts", views.ContactViewSet, basename="contact")

app_name = "consent-api"
urlpatterns = [
    path("events/", views.ConsentEventView.as_view(), name="events"),
    path("check/", views.ConsentCheckView.as_view(), name="check"),
    *router.urls,
]
