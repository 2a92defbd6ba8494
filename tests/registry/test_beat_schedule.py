"""The periodic tasks that settings ask beat to run exist under those names (a renamed or mistyped
task would make beat send messages no worker knows)."""
from django.conf import settings

from config.celery_app import app


def test_every_periodic_task_is_a_registered_task():
    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert "compact-audience-counts" in schedule and schedule["compact-audience-counts"]["schedule"] <= 300
    unknown = {name: entry["task"] for name, entry in schedule.items() if entry["task"] not in app.tasks}
    assert not unknown
