from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("purposes", views.PurposeViewSet, basename="purpose")
router.register("activities", views.ActivityViewSet, basename="activity")
router.register("channels", views.ChannelViewSet, basename="channel")
router.register("data-categories", views.DataCategoryViewSet, basename="data-category")
router.register("data-subject-categories", views.DataSubjectCategoryViewSet, basename="data-subject-category")
router.register("countries", views.CountryViewSet, basename="country")
router.register("transfer-safeguards", views.TransferSafeguardViewSet, basename="transfer-safeguard")
router.register("security-measures", views.SecurityMeasureViewSet, basename="security-measure")
router.register("recipients", views.RecipientViewSet, basename="recipient")
router.register("processors", views.ProcessorViewSet, basename="processor")

app_name = "registry-api"
urlpatterns = [
    path("export/", views.RegisterExportView.as_view(), name="export"),
    *router.urls,
]
