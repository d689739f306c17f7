"""Settings for miniops, read from environment variables only (12-factor).

With no variable set, everything runs on the embedded default: SQLite in WAL mode,
local-memory cache, Huey on SQLite, in-memory channel layer. ``DATABASE_URL`` and
``REDIS_URL`` move every component to PostgreSQL and Redis. Every variable is listed
in README.md; keep that table in step with this file.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE as CSP_NONCE
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- environment -------------------------------------------------------------------
MINIOPS_ENV = env_str("MINIOPS_ENV", "development")
if MINIOPS_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("MINIOPS_ENV must be development, production or test")
PRODUCTION = MINIOPS_ENV == "production"
TESTING = MINIOPS_ENV == "test"

VAR_DIR = Path(env_str("MINIOPS_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when MINIOPS_ENV=production")


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("MINIOPS_ENV=production requires SECRET_KEY")
    # Development and test: a random key kept under var/ so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    if PRODUCTION:
        raise ImproperlyConfigured("MINIOPS_ENV=production requires ALLOWED_HOSTS")
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- applications ------------------------------------------------------------------
INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "auditlog",
    "ninja",  # serves Swagger UI from our static files instead of a CDN
    "huey.contrib.djhuey",
    "channels",
    "miniops.core",
    "miniops.accounts",
    "miniops.members",
    "miniops.catalog",
    "miniops.orders",
    "miniops.marketing",
    "miniops.analytics",
    "miniops.segments",
    "miniops.notifications",
    "miniops.recommendations",
    "miniops.content",
    "miniops.support",
    "miniops.sharing",
    "miniops.cms",
    "miniops.console",
]

MIDDLEWARE = [
    "miniops.core.middleware.RequestIdMiddleware",
    "miniops.analytics.middleware.ServerErrorCounter",
    "miniops.core.security_headers.SecurityHeadersMiddleware",
    "miniops.core.api_middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "miniops.core.middleware.RejectMalformedInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "miniops.accounts.middleware.OperatorSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "miniops.core.audit.AuditMiddleware",
    "axes.middleware.AxesMiddleware",
    # last: answers sold-out flash purchases before routing (see its docstring)
    "miniops.marketing.middleware.FlashSoldOutMiddleware",
]

ROOT_URLCONF = "miniops.urls"
ASGI_APPLICATION = "miniops.asgi.application"
WSGI_APPLICATION = "miniops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "miniops" / "templates"],
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

# --- database ----------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=False)
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL (or unset for SQLite)")
    # Django's psycopg 3 pool: under ASGI each request runs in its own thread, so
    # persistent per-thread connections would not be reused; a pool is.
    _db["OPTIONS"] = {
        "pool": {
            "min_size": env_int("DATABASE_POOL_MIN", 2, minimum=0),
            "max_size": env_int("DATABASE_POOL_MAX", 20, minimum=1),
            "timeout": 10,
        },
    }
    _db["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME") or None}
else:
    _db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(VAR_DIR / "miniops.sqlite3"),
        "OPTIONS": {
            # WAL lets readers run beside the one writer; IMMEDIATE takes the write
            # lock at BEGIN so concurrent writers queue (busy timeout) instead of
            # failing with "database is locked" when upgrading a read lock.
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA busy_timeout=20000;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USING_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

# --- cache, tasks, channel layer ---------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "miniops.core.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "miniops"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py ≥ 6 reads with a 5 s socket timeout by default, as long as
                # channels-redis's blocking BZPOPMIN (5 s): every socket idle for 5 s
                # died with "Timeout reading". The read timeout must outlast it.
                # redis-py ≥ 8 caps an asyncio pool at 100 connections and raises
                # "Too many connections" past it, rather than wait: 500 members
                # reconnecting at once (each joins its groups) passed it.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_connect_timeout": 2,
                        "socket_timeout": 30,
                        "max_connections": env_int("CHANNEL_REDIS_CONNECTIONS", 1000, minimum=10),
                    }
                ],
                "prefix": "miniops:channels",
                # Unread events one socket may hold, in Redis and in its process's
                # buffer; past it channels-redis drops the oldest without a word. An
                # agent with dozens of busy conversations outruns the default 100.
                "capacity": env_int("CHANNEL_CAPACITY", 1000, minimum=100),
            },
        }
    }
    _huey_storage: dict[str, object] = {
        "huey_class": "huey.PriorityRedisHuey",
        "url": REDIS_URL,
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "miniops",
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _huey_storage = {
        "huey_class": "huey.SqliteHuey",
        "filename": str(VAR_DIR / "huey.sqlite3"),
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.db"
# The local WeChat Pay simulator keeps its trades and refunds where every process
# of one installation sees them (the demo seeder, each web worker, the background
# worker): in Redis when it is configured, else in files under var/ beside the
# simulator's keys (a folder per cache key prefix, as parallel test runs have
# theirs). Local memory would lose them between processes.
_simulators: dict[str, Any] = (
    {**CACHES["default"], "TIMEOUT": 7 * 24 * 3600}
    if REDIS_URL
    else {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(
            VAR_DIR / "wechatpay-simulator" / env_str("CACHE_KEY_PREFIX", "miniops") / "state"
        ),
        "TIMEOUT": 7 * 24 * 3600,
        "OPTIONS": {"MAX_ENTRIES": 200_000},
    }
)
CACHES["simulators"] = _simulators

HUEY = {
    **_huey_storage,
    "name": env_str("HUEY_NAME", "miniops"),
    "immediate": env_bool("MINIOPS_HUEY_IMMEDIATE", TESTING),
    "utc": True,
    "results": False,
    "consumer": {
        "workers": env_int("WORKER_THREADS", 2, minimum=1),
        "worker_type": "thread",
        "periodic": True,
    },
}

# --- auth, operators, security -----------------------------------------------------
AUTH_USER_MODEL = "accounts.Operator"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "miniops.accounts.backends.OperatorBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:index"
CSRF_FAILURE_VIEW = "miniops.core.views.csrf_failure"

# How many reverse proxies sit in front (their X-Forwarded-For hops are trusted);
# 0 means the TCP peer is the client. Used by lockouts, throttles and the audit log.
MINIOPS_PROXY_COUNT = env_int("MINIOPS_PROXY_COUNT", 0, minimum=0)
NINJA_NUM_PROXIES = MINIOPS_PROXY_COUNT

# django-auditlog: keep typed JSON diffs; never copy secrets into the trail.
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_CID_GETTER = "miniops.core.audit.correlation_id"

# django-axes: lock an account + IP pair after N failures, and an IP after M
# failures over all usernames (password spraying; miniops.accounts.lockout).
AXES_FAILURE_LIMIT = env_int("MINIOPS_LOCKOUT_FAILURES", 5, minimum=1)
MINIOPS_LOCKOUT_IP_FAILURES = env_int("MINIOPS_LOCKOUT_IP_FAILURES", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("MINIOPS_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "miniops.accounts.lockout.ConsoleLockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "console/locked_out.html"
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = MINIOPS_PROXY_COUNT or None
AXES_CLIENT_IP_CALLABLE = "miniops.core.netutils.client_ip"
AXES_ENABLE_ACCESS_FAILURE_LOG = True

# Operator sessions: idle and absolute timeouts (enforced by OperatorSessionMiddleware).
MINIOPS_SESSION_IDLE_MINUTES = env_int("MINIOPS_SESSION_IDLE_MINUTES", 30, minimum=1)
MINIOPS_SESSION_ABSOLUTE_HOURS = env_int("MINIOPS_SESSION_ABSOLUTE_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = MINIOPS_SESSION_ABSOLUTE_HOURS * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "miniops_session"
CSRF_COOKIE_NAME = "miniops_csrf"

OTP_TOTP_ISSUER = env_str("MINIOPS_OTP_ISSUER", "miniops")
OTP_TOTP_THROTTLE_FACTOR = 1

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env_bool("MINIOPS_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

# --- request size and API limits ---------------------------------------------------
# Bodies above MINIOPS_MAX_REQUEST_BYTES are refused before Django reads them (ASGI);
# DATA_UPLOAD_MAX_MEMORY_SIZE bounds JSON and form bodies read into memory.
# Threads per web process running Django's request path (see core/asgi_bridge.py).
MINIOPS_HTTP_THREADS = env_int("MINIOPS_HTTP_THREADS", 16, minimum=1)
# Threads per web process running the customer-service sockets' database work.
MINIOPS_SUPPORT_DB_THREADS = env_int("MINIOPS_SUPPORT_DB_THREADS", 4, minimum=1)
MINIOPS_MAX_REQUEST_BYTES = env_int("MINIOPS_MAX_REQUEST_BYTES", 12 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MINIOPS_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
MINIOPS_API_RATE_ANON = env_str("MINIOPS_API_RATE_ANON", "6000/m")
MINIOPS_API_RATE_AUTH = env_str("MINIOPS_API_RATE_AUTH", "6000/m")

# --- i18n --------------------------------------------------------------------------
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "miniops" / "locale", BASE_DIR / "miniops" / "locale_vendor"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- static and media --------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
# Where clients reach this server, e.g. https://shop.example.com: the API answers
# media addresses (product images, uploads) absolute under it, because a
# mini-program cannot load a relative "/media/…" (and in production needs https).
# Empty: the storage's own URLs (relative on local storage); `manage.py serve`
# uses its own address outside production.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL").rstrip("/")
if PUBLIC_BASE_URL and not re.match(r"^https?://[^/?#\s]+(/[^?#\s]*)?$", PUBLIC_BASE_URL):
    raise ImproperlyConfigured(
        f"PUBLIC_BASE_URL must be an http(s):// address, got {PUBLIC_BASE_URL!r}"
    )
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_STORAGE = env_str("MEDIA_STORAGE", "local")
if MEDIA_STORAGE == "s3":
    # S3-compatible object storage through django-storages (pip install 'miniops[s3]').
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "custom_domain": env_str("S3_CUSTOM_DOMAIN") or None,
            "querystring_auth": env_bool("S3_SIGNED_URLS", False),
            "file_overwrite": False,
        },
    }
elif MEDIA_STORAGE != "local":
    raise ImproperlyConfigured("MEDIA_STORAGE must be local or s3")
# Outside production WhiteNoise serves straight from the app static folders, so
# `make demo` needs no collectstatic step.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG


# --- browser security headers (miniops.core.security_headers) ----------------------
# docs/decisions/0013-content-security-policy.md says why each source is there.
# The document policy of HTML answers: nothing is loaded from another origin (the
# console works offline), scripts only from our static files or with the answer's
# nonce (`nonce="{{ request.csp_nonce }}"`). Console pages add 'unsafe-eval' and
# their WebSocket origin; JSON and files get default-src 'none'.
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _media_hosts() -> list[str]:
    """Where uploaded images are served from when they are not on our origin."""
    if MEDIA_STORAGE != "s3":
        return []
    options = STORAGES["default"]["OPTIONS"]
    if options["custom_domain"]:
        return [f"https://{options['custom_domain']}"]
    if options["endpoint_url"]:
        return [_origin(options["endpoint_url"])]
    bucket, region = options["bucket_name"], options["region_name"]
    if not bucket:
        return []
    hosts = [f"https://{bucket}.s3.amazonaws.com"]
    if region:
        hosts.append(f"https://{bucket}.s3.{region}.amazonaws.com")
    return hosts


# Other image hosts shown in the console: a CDN in front of media, and the WeChat
# avatar CDN (members' avatar URLs; any other host is blocked, so an avatar cannot
# make an operator's browser call a third party).
MINIOPS_CSP_IMG_HOSTS = env_list(
    "MINIOPS_CSP_IMG_HOSTS", ["https://thirdwx.qlogo.cn", "https://wx.qlogo.cn"]
)
for _host in MINIOPS_CSP_IMG_HOSTS:
    if _host in {"*", "https:", "http:"} or _origin(_host) != _host.rstrip("/"):
        raise ImproperlyConfigured(
            f"MINIOPS_CSP_IMG_HOSTS takes origins like https://cdn.example.com, got {_host!r}"
        )
_CSP_DIRECTIVES: dict[str, list[Any]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'", CSP_NONCE],
    # Unfold's theme colours and htmx's indicator are <style> elements, and Unfold
    # sets style attributes in its templates: styles cannot go without 'unsafe-inline'.
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": [
        "'self'",
        "data:",
        "blob:",
        *_media_hosts(),
        *(h.rstrip("/") for h in MINIOPS_CSP_IMG_HOSTS),
    ],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "frame-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
}
MINIOPS_CSP_REPORT_URI = env_str("MINIOPS_CSP_REPORT_URI")
if MINIOPS_CSP_REPORT_URI:
    _CSP_DIRECTIVES["report-uri"] = [MINIOPS_CSP_REPORT_URI]
# MINIOPS_CSP_REPORT_ONLY=1 sends the document policy as Content-Security-Policy-
# Report-Only: a trial before tightening or extending it, never a production state.
MINIOPS_CSP_REPORT_ONLY = env_bool("MINIOPS_CSP_REPORT_ONLY", False)
if MINIOPS_CSP_REPORT_ONLY:
    CONTENT_SECURITY_POLICY = None
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _CSP_DIRECTIVES}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _CSP_DIRECTIVES}
# Pages under these prefixes run Unfold's Alpine.js, which needs 'unsafe-eval'.
MINIOPS_CSP_EVAL_PREFIXES = ["/console/"]
MINIOPS_API_PREFIX = "/api/"
# Features no page of ours uses are switched off for every answer and any frame.
MINIOPS_PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}

# --- logging -----------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "miniops.core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "miniops.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env_str("LOG_FORMAT", "text"),
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # 4xx answers are the client's business (and can come by the thousand: a
        # flash sale's "sold out"); server errors are still logged.
        "django.request": {"level": "ERROR"},
        "axes": {"level": "WARNING"},
        "huey": {"level": "WARNING" if TESTING else "INFO"},
    },
}

# --- the console (django-unfold) ---------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "miniops",
    "SITE_HEADER": "miniops",
    "SITE_SUBHEADER": _("Operations console"),
    "SITE_URL": None,
    "SITE_SYMBOL": "hub",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_LANGUAGES": True,
    "ENVIRONMENT": "miniops.console.navigation.environment_badge",
    "DASHBOARD_CALLBACK": "miniops.console.dashboard.dashboard_callback",
    # column gutters for the console's own report tables (console/console.css)
    "STYLES": [lambda request: static("console/console.css")],
    "LOGIN": {"redirect_after": "/console/"},
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": "miniops.console.navigation.sidebar",
    },
}

# --- personal data encryption (see miniops/core/crypto.py) --------------------------
MINIOPS_FIELD_KEYS = env_str("MINIOPS_FIELD_KEYS")
MINIOPS_BLIND_INDEX_KEY = env_str("MINIOPS_BLIND_INDEX_KEY")
if PRODUCTION and not (MINIOPS_FIELD_KEYS and MINIOPS_BLIND_INDEX_KEY):
    raise ImproperlyConfigured(
        "MINIOPS_ENV=production requires MINIOPS_FIELD_KEYS and MINIOPS_BLIND_INDEX_KEY"
    )

# --- product settings --------------------------------------------------------------
MINIOPS_PROVIDER_MODE = env_str("MINIOPS_PROVIDER_MODE", "simulator")
WECHAT_APP_ID = env_str("WECHAT_APP_ID")
WECHAT_APP_SECRET = env_str("WECHAT_APP_SECRET")
WECHAT_API_BASE = env_str("WECHAT_API_BASE", "https://api.weixin.qq.com")
# Push messages: subscribe messages sent per window by all workers together, and
# how long a worker holds the deliveries it claimed before they are recovered.
MINIOPS_PUSH_RATE = env_str("MINIOPS_PUSH_RATE", "600/s")
# "remind me" / "tell me when back in stock" requests per member
MINIOPS_REMINDER_WRITE_RATE = env_str("MINIOPS_REMINDER_WRITE_RATE", "30/m")
MINIOPS_PUSH_LEASE_SECONDS = env_int("MINIOPS_PUSH_LEASE_SECONDS", 120, minimum=5)
# HTTP threads per worker process sending a claimed batch, and the chunk size of
# its bulk steps (caps, sent_at, consents: one transaction per chunk). A worker
# killed mid-send leaves at most two chunks in doubt.
MINIOPS_PUSH_THREADS = env_int("MINIOPS_PUSH_THREADS", 4, minimum=1)
# WeChat Pay API v3 (live mode). Platform keys are the allow-list for notices:
# "SERIAL=/path/to/key-or-cert.pem,SERIAL2=/path2".
WECHATPAY_APP_ID = env_str("WECHATPAY_APP_ID") or WECHAT_APP_ID
WECHATPAY_MCH_ID = env_str("WECHATPAY_MCH_ID")
WECHATPAY_MCH_CERT_SERIAL = env_str("WECHATPAY_MCH_CERT_SERIAL")
WECHATPAY_MCH_PRIVATE_KEY_FILE = env_str("WECHATPAY_MCH_PRIVATE_KEY_FILE")
WECHATPAY_APIV3_KEY = env_str("WECHATPAY_APIV3_KEY")
WECHATPAY_NOTIFY_URL = env_str("WECHATPAY_NOTIFY_URL")
WECHATPAY_PUBLIC_KEY_ID = env_str("WECHATPAY_PUBLIC_KEY_ID")
WECHATPAY_PUBLIC_KEY_FILE = env_str("WECHATPAY_PUBLIC_KEY_FILE")
WECHATPAY_PLATFORM_KEYS = dict(
    item.split("=", 1) for item in env_list("WECHATPAY_PLATFORM_KEYS") if "=" in item
)
# Orders
MINIOPS_ORDER_PAY_MINUTES = env_int("MINIOPS_ORDER_PAY_MINUTES", 30, minimum=1)
MINIOPS_AUTO_CONFIRM_DAYS = env_int("MINIOPS_AUTO_CONFIRM_DAYS", 10, minimum=1)
MINIOPS_AFTER_SALE_DAYS = env_int("MINIOPS_AFTER_SALE_DAYS", 15, minimum=1)
# Marketing
MINIOPS_POINTS_PER_YUAN = env_int("MINIOPS_POINTS_PER_YUAN", 1, minimum=0)
MINIOPS_POINTS_VALUE_FEN = env_int("MINIOPS_POINTS_VALUE_FEN", 1, minimum=1)
MINIOPS_POINTS_MAX_PERCENT = env_int("MINIOPS_POINTS_MAX_PERCENT", 50, minimum=0)
MINIOPS_POINTS_EXPIRE_DAYS = env_int("MINIOPS_POINTS_EXPIRE_DAYS", 365, minimum=1)
SIGN_IN_LADDER = ["5", "5", "10", "10", "15", "15", "30"]
MINIOPS_SIGN_IN_POINTS = env_list("MINIOPS_SIGN_IN_POINTS", SIGN_IN_LADDER)
MINIOPS_REFERRAL_POINTS = env_int("MINIOPS_REFERRAL_POINTS", 200, minimum=0)
MINIOPS_REVIEW_POINTS = env_int("MINIOPS_REVIEW_POINTS", 20, minimum=0)
MINIOPS_FLASH_PAY_MINUTES = env_int("MINIOPS_FLASH_PAY_MINUTES", 5, minimum=1)
# Content (posts, comments, reviews and their moderation)
MINIOPS_CONTENT_MAX_CHARS = env_int("MINIOPS_CONTENT_MAX_CHARS", 2000, minimum=1)
MINIOPS_CONTENT_PLATFORM_TEXT_CHARS = env_int("MINIOPS_CONTENT_PLATFORM_TEXT_CHARS", 20, minimum=0)
MINIOPS_CONTENT_MEDIA_TIMEOUT_MINUTES = env_int(
    "MINIOPS_CONTENT_MEDIA_TIMEOUT_MINUTES", 30, minimum=1
)
MINIOPS_CONTENT_APPEAL_DAYS = env_int("MINIOPS_CONTENT_APPEAL_DAYS", 20, minimum=1)
MINIOPS_CONTENT_CLAIM_MINUTES = env_int("MINIOPS_CONTENT_CLAIM_MINUTES", 10, minimum=1)
MINIOPS_CONTENT_WRITE_RATE = env_str("MINIOPS_CONTENT_WRITE_RATE", "30/m")
# the token of the mini-program's message push (WeChat signs every push with it)
WECHAT_MESSAGE_TOKEN = env_str("WECHAT_MESSAGE_TOKEN")
# Analytics
MINIOPS_ANALYTICS_HORIZON_DAYS = env_int("MINIOPS_ANALYTICS_HORIZON_DAYS", 7, minimum=1)
MINIOPS_EVENTS_RATE = env_str("MINIOPS_EVENTS_RATE", "600/m")
MINIOPS_ANALYTICS_FLUSH_SECONDS = env_float("MINIOPS_ANALYTICS_FLUSH_SECONDS", 1.0)
MINIOPS_ANALYTICS_LAKE_DIR = env_str("MINIOPS_ANALYTICS_LAKE_DIR", "") or str(VAR_DIR / "lake")
# Sharing: mini-program codes (wxacode.getUnlimited, 5,000 calls a minute per app)
MINIOPS_WXACODE_RATE = env_str("MINIOPS_WXACODE_RATE", "5000/m")
MINIOPS_WXACODE_ENV = env_str("MINIOPS_WXACODE_ENV", "release")
MINIOPS_WXACODE_CHECK_PATH = env_bool("MINIOPS_WXACODE_CHECK_PATH", True)
#: a TTF/TTC with CJK glyphs for posters; empty: the first of the known system paths
MINIOPS_POSTER_FONT = env_str("MINIOPS_POSTER_FONT")
# Member tokens: access tokens are short-lived and signed; refresh tokens rotate.
MINIOPS_MEMBER_ACCESS_MINUTES = env_int("MINIOPS_MEMBER_ACCESS_MINUTES", 120, minimum=1)
MINIOPS_MEMBER_REFRESH_DAYS = env_int("MINIOPS_MEMBER_REFRESH_DAYS", 30, minimum=1)
if MINIOPS_PROVIDER_MODE not in {"simulator", "live"}:
    raise ImproperlyConfigured("MINIOPS_PROVIDER_MODE must be simulator or live")
