"""One settings module, driven by the environment.

Without any variable set, the embedded default runs: SQLite under var/, Celery eager,
emails written to files under var/mail/, private files under var/private/.
With DEBUG=false the production hardening below switches on (check --deploy clean).
"""
from pathlib import Path
import os
import re

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DPO_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "embedded-default-insecure-key-only-for-local-development-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY") or (_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false.")

# Keys the HMACs of suppression entries and of consent evidence. Keep it outside the database
# and apart from SECRET_KEY in production (rotating SECRET_KEY must not orphan the digests).
PSEUDONYMISATION_KEY = os.environ.get("PSEUDONYMISATION_KEY") or SECRET_KEY
# Region used to read national phone numbers (06 12 34 56 78 -> +33612345678).
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "FR")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# A readable 403 page (French or English) instead of Django's bare English one; JSON under /api/.
CSRF_FAILURE_VIEW = "registry.api.errors.csrf_failure"

INSTALLED_APPS = [
    "registry.apps.DPODeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "simple_history",
    "django_celery_beat",
    "django_ratelimit",
    "registry.apps.RegistryConfig",
    "consent.apps.ConsentConfig",
    "rights.apps.RightsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "registry.middleware.LocaleMiddleware",  # Django's, the API negotiating its language
    "django.middleware.common.CommonMiddleware",
    # The API's common event POST answered here, without the middleware below (see the module).
    "consent.api.middleware.DirectEventPostMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

if not os.environ.get("DATABASE_URL"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the embedded default's SQLite file lives here
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The covering indexes' INCLUDE columns serve PostgreSQL's index-only counts; SQLite (the embedded
# default) just ignores them, which needs no warning on every command.
SQLITE_SILENCED_CHECKS = ["models.W040"] if DATABASES["default"]["ENGINE"].endswith("sqlite3") else []

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# French is the default; English is served under /en/.
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "fr")
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
WHITENOISE_AUTOREFRESH = DEBUG  # development: serve from the apps, no collectstatic needed
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", VAR_DIR / "private"))

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Job outputs and proofs: no URL at all, so nothing here can ever be linked publicly;
    # files are streamed by a view that checks a signed token or a permission.
    "private": {
        "BACKEND": "registry.storage.PrivateStorage",
        "OPTIONS": {"location": str(PRIVATE_STORAGE_ROOT)},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Email: files under var/mail/ unless configured.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "DPO Desk <dpo-desk@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: Redis when REDIS_URL is set, otherwise tasks run eagerly in-process.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Longer than any job, so Redis does not redeliver a task still running; the sweep below
# is what recovers jobs whose worker died.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 3600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-stranded-jobs": {
        "task": "registry.tasks.sweep_stranded_jobs",
        "schedule": 300.0,
    },
    "compact-audience-counts": {
        "task": "consent.tasks.compact_audience_counts",
        "schedule": 60.0,
    },
    "expire-consents": {
        "task": "consent.tasks.expire_due_consents",
        "schedule": 3600.0,
    },
    "expire-pending-double-opt-ins": {
        "task": "consent.tasks.expire_pending_double_opt_ins",
        "schedule": 3600.0,
    },
    "lapse-outdated-consents": {
        "task": "consent.tasks.lapse_outdated_consents",
        "schedule": 3600.0,
    },
    "expire-unverified-rights-requests": {
        "task": "rights.tasks.expire_unverified_requests",
        "schedule": 3600.0,
    },
    "expire-rights-download-links": {
        "task": "rights.tasks.expire_download_links",
        "schedule": 3600.0,
    },
    "rights-deadline-reminders": {
        "task": "rights.tasks.send_deadline_reminders",
        "schedule": crontab(hour=7, minute=30),
    },
}

# Cache: the counters of the rate limits on public forms (registry.ratelimit), so it must be shared
# by every web process and increment atomically. With REDIS_URL: Redis (SET NX and INCR, atomic).
# The embedded default runs on one machine: files under var/cache, which all its processes share.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # django-ratelimit's list of supported backends predates Django's own RedisCache, which it warns
    # about although add() is SET NX and incr() is INCR (jsocol/django-ratelimit#283, open).
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001", *SQLITE_SILENCED_CHECKS]
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    # Files are shared between processes but incremented without a lock: two hits at the same instant
    # may count once, so a client gets at most a few more tries. Acceptable for the embedded default;
    # set REDIS_URL in production for exact counts.
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001", *SQLITE_SILENCED_CHECKS]


def env_rate(name: str, default: str) -> str:
    """A django-ratelimit rate ("30/h", "5/10m"): checked here, not at the first request."""
    value = os.environ.get(name, "").strip() or default
    if not re.fullmatch(r"[1-9]\d*/([1-9]\d*)?[smhd]", value):
        raise ImproperlyConfigured(f"{name} must look like 30/h or 5/10m (count/period), not {value!r}.")
    return value


# Public forms (collection forms, preference-link requests, rights requests): POSTs allowed per
# client IP and per email address (a keyed HMAC of it) before answering 429.
RATELIMIT_PER_IP = env_rate("RATELIMIT_PER_IP", "30/h")
RATELIMIT_PER_EMAIL = env_rate("RATELIMIT_PER_EMAIL", "5/h")
# How many reverse proxies in front of the app append to X-Forwarded-For. 0: the client is
# REMOTE_ADDR and the header, which anyone can send, is ignored.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

# A job left pending or running without a heartbeat for this long is re-enqueued.
JOB_STRANDED_AFTER_SECONDS = int(os.environ.get("JOB_STRANDED_AFTER_SECONDS", "900"))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "5"))
# Signed download links to job outputs expire after this many seconds.
JOB_DOWNLOAD_LINK_MAX_AGE = int(os.environ.get("JOB_DOWNLOAD_LINK_MAX_AGE", str(24 * 3600)))

# Consent links: how long a double opt-in stays pending, and a preference-centre link stays valid.
DOUBLE_OPT_IN_DAYS = int(os.environ.get("DOUBLE_OPT_IN_DAYS", "7"))
PREFERENCE_LINK_DAYS = int(os.environ.get("PREFERENCE_LINK_DAYS", "30"))
# Rights requests: the email-ownership link, the requester's status link, export downloads,
# and how early the assignee and the DPO hear of a coming deadline.
RIGHTS_VERIFY_LINK_DAYS = int(os.environ.get("RIGHTS_VERIFY_LINK_DAYS", "7"))
RIGHTS_STATUS_LINK_DAYS = int(os.environ.get("RIGHTS_STATUS_LINK_DAYS", "180"))
RIGHTS_DOWNLOAD_DAYS = int(os.environ.get("RIGHTS_DOWNLOAD_DAYS", "7"))
RIGHTS_DOWNLOAD_MAX_USES = int(os.environ.get("RIGHTS_DOWNLOAD_MAX_USES", "5"))
RIGHTS_REMINDER_DAYS = int(os.environ.get("RIGHTS_REMINDER_DAYS", "7"))
# Absolute address of the public pages, for links in emails sent by workers (no request there).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

REST_FRAMEWORK = {
    # Token first: DRF takes WWW-Authenticate from the first class, so a call without credentials
    # (or with a bad token) gets 401 + `WWW-Authenticate: Token` (design §4); with the session first
    # it got 403. Without an Authorization header the token class passes, and a browser's session
    # is read as before, CSRF enforced on unsafe methods.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication answered from the cache (no query per request once warm).
        "registry.api.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["registry.api.permissions.RoleModelPermissions"],
    # DRF's defaults, with a JSON parser that answers a too deeply nested body with a 400.
    "DEFAULT_PARSER_CLASSES": ["registry.api.parsers.JSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "registry.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "registry.api.errors.exception_handler",
    # ?format= is ours (register export, receipts), not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DPO Desk API",
    "DESCRIPTION": "Processing register, consent and rights requests (GDPR).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The ledger's actions and methods, and the part of them an API client may record.
    "ENUM_NAME_OVERRIDES": {
        "ActionEnum": "consent.models.Action",
        "MethodEnum": "consent.models.Method",
        "RecordableActionEnum": "consent.services.CLIENT_ACTION_CHOICES",
        "RecordableMethodEnum": "consent.services.CLIENT_METHOD_CHOICES",
    },
}

LOGIN_URL = "admin:login"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint narrates every layout step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Production hardening (DEBUG=false). Behind a TLS-terminating proxy set
# SECURE_PROXY_SSL_HEADER via TRUST_X_FORWARDED_PROTO=true.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
