from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("requests", views.RightsRequestViewSet, basename="request")

app_name = "rights-api"
urlpatterns = router.urls
