"""Settings: read from LIFELONG_* environment variables only.

SQLite under var/ is the default so that `make demo` needs nothing installed;
LIFELONG_DATABASE_URL switches to PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(f"LIFELONG_{name}", default)
    if value is None:
        raise ImproperlyConfigured(f"LIFELONG_{name} must be set")
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(f"LIFELONG_{name}")
    if raw is None:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"LIFELONG_{name} must be a boolean, got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(f"LIFELONG_{name}")
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"LIFELONG_{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_networks(name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in env_list(name, ""):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"LIFELONG_{name}: {item!r} is not an address or network"
            ) from exc
    return tuple(networks)


def var_dir_default(*, base_dir: Path, is_root: bool, data_home: str | None) -> Path:
    """Where the state lives (SQLite, collected static files, uploads) when LIFELONG_VAR_DIR
    is not set: `var/` of a source checkout, which `make demo` uses; for an installed package,
    never site-packages, but /var/lib/lifelong for root (as the deploy/ units have it) and
    $XDG_DATA_HOME/lifelong (~/.local/share/lifelong) for anyone else."""
    if (base_dir / "pyproject.toml").is_file():
        return base_dir / "var"
    if is_root:
        return Path("/var/lib/lifelong")
    return Path(data_home or Path.home() / ".local" / "share") / "lifelong"


DEBUG = env_bool("DEBUG", False)
PRODUCTION = env_bool("PRODUCTION", False)
VAR_DIR = Path(
    env_str("VAR_DIR", "")
    or var_dir_default(
        base_dir=BASE_DIR,
        is_root=hasattr(os, "geteuid") and os.geteuid() == 0,
        data_home=os.environ.get("XDG_DATA_HOME"),
    )
)

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY")
else:
    SECRET_KEY = env_str(
        "SECRET_KEY", "dev-only-insecure-key-change-me-for-production-use-0123456789"
    )


def fernet_key(name: str, key: str) -> str:
    try:
        valid = len(base64.urlsafe_b64decode(key.encode())) == 32
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise ImproperlyConfigured(
            f"LIFELONG_{name} must be 32 bytes in URL-safe base64, as printed by `python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        )
    return key


# Channel credentials and webhook secrets are stored encrypted (lifelong.lib.encryption) with
# the first key; old keys only decrypt, while `lifelong reencrypt` moves data to the new one.
# Development derives a key from SECRET_KEY; production must be given one.
_derived_key = base64.urlsafe_b64encode(
    hashlib.sha256(b"lifelong-encryption:" + SECRET_KEY.encode()).digest()
).decode()
ENCRYPTION_KEYS = [
    fernet_key("ENCRYPTION_KEY", env_str("ENCRYPTION_KEY", None if PRODUCTION else _derived_key)),
    *(fernet_key("ENCRYPTION_OLD_KEYS", key) for key in env_list("ENCRYPTION_OLD_KEYS", "")),
]

# Old keys still accepted after a rotation for what they signed or sealed (customer links).
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", "")

# Django's test client adds "testserver" itself while tests run; no deployment needs it.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
# Reverse proxies whose X-Forwarded-For/-Proto/-Host we believe (lifelong.lib.client_ip and
# lifelong.lib.proxy); none by default.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# Private networks that push endpoints and webhook URLs may reach anyway (lifelong.lib.outbound).
OUTBOUND_ALLOWED_NETWORKS = env_networks("OUTBOUND_ALLOWED_NETWORKS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "lifelong.accounts",
    "lifelong.customers",
    "lifelong.commerce",
    "lifelong.events",
    "lifelong.followups",
    "lifelong.segments",
    "lifelong.messaging",
    "lifelong.journeys",
    "lifelong.loyalty",
    "lifelong.feedback",
    "lifelong.campaigns",
    "lifelong.community",
    "lifelong.team",
    "lifelong.analytics",
    "lifelong.jobs",
    "lifelong.api",
    "lifelong.web",
]

MIDDLEWARE = [
    # Believes the scheme and host only from LIFELONG_TRUSTED_PROXIES; before the security
    # middleware, whose HTTPS redirect and HSTS depend on the scheme.
    "lifelong.lib.proxy.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lifelong.accounts.origin.RequestOriginMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lifelong.web.staff_session.StaffSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "lifelong.web.headers.SecurityHeadersMiddleware",
]

if PRODUCTION:
    # Serves the collected static files (`lifelong run` collects them at start).
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "lifelong.urls"
WSGI_APPLICATION = "lifelong.wsgi.application"
ASGI_APPLICATION = "lifelong.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

_default_sqlite = f"sqlite:///{VAR_DIR / 'lifelong.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_sqlite))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock
    # at BEGIN so concurrent writers queue instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, reading timestamps faster (lib/postgresql/base.py says why).
        DATABASES["default"]["ENGINE"] = "lifelong.lib.postgresql"
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
_test_db_default = None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not shared-cache memory: threads of the live-server and import tests then
    # get WAL and the busy timeout instead of instant "table is locked" errors. One file per
    # process, so two test runs on one checkout never write into each other's database.
    _test_db_default = str(VAR_DIR / f"test-lifelong-{os.getpid()}.sqlite3")
DATABASES["default"]["TEST"] = {
    "NAME": os.environ.get("LIFELONG_TEST_DATABASE_NAME") or _test_db_default
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REDIS_URL = os.environ.get("LIFELONG_REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = env_str("LANGUAGE", "ru")
LANGUAGES = [("ru", "Русский"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "lifelong" / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Moscow")
USE_I18N = True
USE_TZ = True
DEFAULT_CURRENCY = env_str("CURRENCY", "RUB")

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Probes ask the app's own port in plain HTTP (lifelong.web.views.health).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", SITE_URL)

# Mail to staff (password reset links) goes through this SMTP server; without a host,
# password reset by email is off. Customer mail has its own settings in the channels page.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_PASSWORD", "")
_email_security = env_str("EMAIL_SECURITY", "starttls")
if _email_security not in {"starttls", "tls", "none"}:
    raise ImproperlyConfigured("LIFELONG_EMAIL_SECURITY must be starttls, tls or none")
EMAIL_USE_TLS = _email_security == "starttls"
EMAIL_USE_SSL = _email_security == "tls"
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env_str("EMAIL_FROM", "lifelong@localhost")

# The mailbox customers' email replies arrive in (lifelong.feedback.mailbox reads it over IMAP
# into the conversations inbox); without a host the sweep does nothing.
REPLY_IMAP_HOST = env_str("REPLY_IMAP_HOST", "")
REPLY_IMAP_PORT = env_int("REPLY_IMAP_PORT", 993)
REPLY_IMAP_USER = env_str("REPLY_IMAP_USER", "")
REPLY_IMAP_PASSWORD = env_str("REPLY_IMAP_PASSWORD", "")
REPLY_IMAP_SECURITY = env_str("REPLY_IMAP_SECURITY", "tls")
if REPLY_IMAP_SECURITY not in {"starttls", "tls", "none"}:
    raise ImproperlyConfigured("LIFELONG_REPLY_IMAP_SECURITY must be tls, starttls or none")
REPLY_IMAP_FOLDER = env_str("REPLY_IMAP_FOLDER", "INBOX")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# The dispatcher sends each channel's batch over this many connections at once (lanes), each
# with at most this many messages sent but not yet recorded (window). A crash leaves at most
# lanes x window messages `unknown`; 1 and 1 send one message at a time, recording each.
DISPATCH_LANES = env_int("DISPATCH_LANES", 1)
DISPATCH_WINDOW = env_int("DISPATCH_WINDOW", 1)
if not (1 <= DISPATCH_LANES <= 32 and 1 <= DISPATCH_WINDOW <= 256):
    raise ImproperlyConfigured(
        "LIFELONG_DISPATCH_LANES must be 1 to 32 and LIFELONG_DISPATCH_WINDOW 1 to 256"
    )

# Failed sign-ins per window: per login and address, per login, per address, and overall.
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 5)
LOGIN_USER_RATE_LIMIT = env_int("LOGIN_USER_RATE_LIMIT", 20)
LOGIN_IP_RATE_LIMIT = env_int("LOGIN_IP_RATE_LIMIT", 50)
LOGIN_GLOBAL_RATE_LIMIT = env_int("LOGIN_GLOBAL_RATE_LIMIT", 500)
LOGIN_RATE_WINDOW_SECONDS = env_int("LOGIN_RATE_WINDOW_SECONDS", 300)
# Customer pages (/c/) one address may open per window; tracking links and mail providers'
# one-click unsubscribes are not counted (lifelong.web.portal.guard says why).
PORTAL_RATE_LIMIT = env_int("PORTAL_RATE_LIMIT", 60)
PORTAL_RATE_WINDOW_SECONDS = env_int("PORTAL_RATE_WINDOW_SECONDS", 60)
# Signed-in staff who do nothing for this long must sign in again.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 8 * 60)
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
PASSWORD_RESET_TIMEOUT = 60 * 60
# Owners must set up two-factor sign-in before they can use anything else.
REQUIRE_OWNER_2FA = env_bool("REQUIRE_OWNER_2FA", False)
WEBHOOK_TOLERANCE_SECONDS = 300

CELERY_BROKER_URL = env_str("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# Who runs the sweeps: the scheduler thread of `lifelong run` (embedded) or Celery beat and
# workers (celery; then `lifelong run` neither schedules nor migrates).
SCHEDULER = env_str("SCHEDULER", "embedded")
if SCHEDULER not in {"embedded", "celery"}:
    raise ImproperlyConfigured(f"LIFELONG_SCHEDULER must be embedded or celery, got {SCHEDULER!r}")
# The local hour (TIME_ZONE) at which the daily sweeps run.
DAILY_SWEEP_HOUR = env_int("DAILY_SWEEP_HOUR", 3)
if not 0 <= DAILY_SWEEP_HOUR <= 23:
    raise ImproperlyConfigured("LIFELONG_DAILY_SWEEP_HOUR must be an hour from 0 to 23")
# /metrics answers only a request bearing this token; empty: /metrics is off (404).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
