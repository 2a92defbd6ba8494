"""WSGI entry of the real-HTTP runs: the app (config.wsgi) with the baseline views added.
gunicorn --chdir bench _common.wsgi:application (the environment comes from _common.start)."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings
from django.core.wsgi import get_wsgi_application

settings.ROOT_URLCONF = "_common.urls"
application = get_wsgi_application()
