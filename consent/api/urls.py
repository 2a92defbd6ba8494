from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("contacts", views.ContactViewSet, basename="contact")

app_name = "consent-api"
urlpatterns = [
    path("events/", views.ConsentEventView.as_view(), name="events"),
    path("check/", views.ConsentCheckView.as_view(), name="check"),
    path("audience/", views.ConsentAudienceView.as_view(), name="audience"),
    path("events/<int:pk>/receipt/", views.ConsentEventReceiptView.as_view(), name="event-receipt"),
    path("contacts/<int:pk>/record/", views.ContactRecordView.as_view(), name="contact-record"),
    *router.urls,
]
