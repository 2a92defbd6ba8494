from django.urls import path

from . import views

app_name = "registry"
urlpatterns = [
    path("jobs/<int:job_id>/download/", views.job_download, name="job-download"),
]
