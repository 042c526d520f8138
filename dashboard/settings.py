"""Settings: every value comes from the environment, with defaults that run on SQLite.

With nothing set this is the embedded demo (SQLite, Celery on a filesystem transport,
console email, DEBUG on). Production sets the variables listed in .env.example.
"""

from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from dashboard.env import (
    database_from_url,
    env_bool,
    env_decimal,
    env_fernet_keys,
    env_group_roles,
    env_host_names,
    env_int,
    env_list,
    env_networks,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-embedded-demo-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must be set when DEBUG is off, e.g. spend.example.com."
    )

SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000")
CSRF_TRUSTED_ORIGINS = [f"{urlsplit(SITE_URL).scheme}://{urlsplit(SITE_URL).netloc}"]

FIELD_ENCRYPTION_KEYS = env_fernet_keys("FIELD_ENCRYPTION_KEYS")
if not DEBUG and not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off: provider keys are encrypted with it."
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "dashboard",
    "routing",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "dashboard.middleware.RefuseNulCharactersMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.middleware.PrivateCacheMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.HtmxLoginRedirectMiddleware",
    "dashboard.middleware.ResetTimezoneMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.navigation",
                "billing.fx.money_context",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", "sqlite:///var/demo.sqlite3"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Single sign-on with OpenID Connect (dashboard/sso/): on when OIDC_ISSUER is set. Endpoints come
# from the issuer's discovery document; mozilla-django-oidc runs the code flow (with PKCE).
OIDC_ISSUER = env_url("OIDC_ISSUER", "http://sso.invalid") if env_str("OIDC_ISSUER") else ""
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
if OIDC_ISSUER and not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "OIDC_ISSUER is set: set OIDC_CLIENT_ID and OIDC_CLIENT_SECRET too, as the identity "
        "provider issued them for this app."
    )
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
# Lower-case domains whose addresses may sign in; empty lets any verified address in.
OIDC_ALLOWED_EMAIL_DOMAINS = [domain.lower() for domain in env_list("OIDC_ALLOWED_EMAIL_DOMAINS")]
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_GROUP_ROLES = env_group_roles("OIDC_GROUP_ROLES", ("admin", "ops", "finance", "viewer"))
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT_SECONDS", 10, minimum=1)
OIDC_USE_PKCE = True
OIDC_AUTHENTICATE_CLASS = "dashboard.sso.views.SsoStartView"
OIDC_CALLBACK_CLASS = "dashboard.sso.views.SsoCallbackView"
# Off: only superusers sign in with a password (break-glass); everyone else uses single sign-on.
PASSWORD_SIGN_IN = env_bool("PASSWORD_SIGN_IN", True)
if not PASSWORD_SIGN_IN and not OIDC_ISSUER:
    raise ImproperlyConfigured(
        "PASSWORD_SIGN_IN=false needs single sign-on (OIDC_ISSUER): otherwise only superusers "
        "could sign in."
    )
# The single sign-on backend answers only when OIDC_ISSUER is set.
AUTHENTICATION_BACKENDS = [
    "dashboard.sso.backends.PasswordBackend",
    "dashboard.sso.backends.OidcBackend",
]
# GET /metrics answers these networks without a token (e.g. the Prometheus server's); others
# send a spend:read token as a bearer. Empty: a token always.
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS")
# Failed sign-ins per username and address before a lockout, and how long it lasts.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# Days an invitation link stays valid, and how many invitations a team may send an hour.
INVITATION_EXPIRY_DAYS = env_int("INVITATION_EXPIRY_DAYS", 7, minimum=1)
INVITATIONS_PER_HOUR = env_int("INVITATIONS_PER_HOUR", 20, minimum=1)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
if DEBUG:
    # collectstatic fills it in production; whitenoise warns when it does not exist.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "dashboard.staticfinders.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Email: SMTP when EMAIL_HOST is set; otherwise one log line per email while DEBUG (the demo),
# the whole message on the console when not.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
elif DEBUG:
    EMAIL_BACKEND = "dashboard.mail.OneLineEmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true.")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "LLM Spend <spend@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: Redis (or any broker) in production; otherwise a filesystem transport, no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL == "filesystem://":
    CELERY_FILESYSTEM_DIR = Path(env_str("CELERY_FILESYSTEM_DIR", str(VAR_DIR / "celery")))
    for _folder in ("queue", "processed"):
        (CELERY_FILESYSTEM_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "store_processed": False,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Production hardening; each can be overridden, all are off while DEBUG is on.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp), enforced: scripts only from our own origin, never inline
# or evaluated, and no framing. Inline styles stay allowed: plotly.js writes <style> elements
# and style attributes. Styles cannot run script, and with images, fonts and fetches limited to
# our origin they cannot send anything elsewhere either.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        # data: for the empty favicon and plotly's images, blob: for its "Download plot as PNG".
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # Celery's line per task received, succeeded and scheduled (every minute): shown only when
    # something fails, or with CELERY_TASK_LOG_LEVEL=INFO.
    "loggers": {
        name: {"level": env_str("CELERY_TASK_LOG_LEVEL", "WARNING")}
        for name in ("celery.app.trace", "celery.worker.strategy", "celery.beat")
    },
}

if (
    DATABASES["default"]["ENGINE"].endswith("sqlite3")
    and DATABASES["default"]["NAME"] != ":memory:"
):
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

# How long ingestion reuses the price catalog it loaded before reading it again.
CATALOG_CACHE_SECONDS = env_int("CATALOG_CACHE_SECONDS", 30, minimum=0)
# A TAO-billed call is converted with the latest TAO price at or before it, if no older than this.
TAO_PRICE_MAX_AGE_MINUTES = env_int("TAO_PRICE_MAX_AGE_MINUTES", 60, minimum=1)
# A provider invoice further than this from the computed cost (in %) is flagged.
INVOICE_TOLERANCE_PCT = env_decimal("INVOICE_TOLERANCE_PCT", "2")
# Raw usage events (one row per call) are kept for the current UTC month and this many months
# before it, then dropped a whole month at a time once every team has closed it; rollups keep
# the totals. Empty: raw events are kept for ever.
USAGE_RAW_RETENTION_MONTHS = env_int("USAGE_RAW_RETENTION_MONTHS", 0, minimum=1) or None

# TAO/USD is polled every 5 minutes from each source in TAO_PRICE_SOURCES (billing.tao_sources);
# the price is the median of the fresh answers. The keyed sources are on by default once their
# key is set, and never asked without it. Unlike SITE_URL, a source's query string is part of
# its address. TAO_PRICE_URL is CoinGecko's address: any URL answering its simple-price or
# market-chart shape, or {"usd": n} / {"price": n}, may stand in for it.
COINMARKETCAP_API_KEY = env_str("COINMARKETCAP_API_KEY")
TAOSTATS_API_KEY = env_str("TAOSTATS_API_KEY")
TAO_PRICE_SOURCE_NAMES = ("coingecko", "kraken", "coinbase", "coinmarketcap", "taostats")
TAO_PRICE_SOURCES = env_list(
    "TAO_PRICE_SOURCES",
    ["coingecko", "kraken", "coinbase"]
    + (["coinmarketcap"] if COINMARKETCAP_API_KEY else [])
    + (["taostats"] if TAOSTATS_API_KEY else []),
)
if set(TAO_PRICE_SOURCES) - set(TAO_PRICE_SOURCE_NAMES):
    raise ImproperlyConfigured(
        f"TAO_PRICE_SOURCES={','.join(TAO_PRICE_SOURCES)!r} names an unknown source: "
        f"choose from {', '.join(TAO_PRICE_SOURCE_NAMES)}."
    )
TAO_PRICE_URL = env_str(
    "TAO_PRICE_URL",
    "https://api.coingecko.com/api/v3/simple/price"
    "?ids=bittensor&vs_currencies=usd&include_last_updated_at=true",
)
TAO_PRICE_KRAKEN_URL = env_str(
    "TAO_PRICE_KRAKEN_URL", "https://api.kraken.com/0/public/Ticker?pair=TAOUSD"
)
TAO_PRICE_COINBASE_URL = env_str(
    "TAO_PRICE_COINBASE_URL", "https://api.coinbase.com/v2/prices/TAO-USD/spot"
)
TAO_PRICE_COINMARKETCAP_URL = env_str(
    "TAO_PRICE_COINMARKETCAP_URL",
    "https://pro-api.coinmarketcap.com/v2/cryptocurrency/quotes/latest?symbol=TAO&convert=USD",
)
TAO_PRICE_TAOSTATS_URL = env_str(
    "TAO_PRICE_TAOSTATS_URL", "https://api.taostats.io/api/price/latest/v1?asset=tao"
)
for _name in (
    "TAO_PRICE_URL",
    "TAO_PRICE_KRAKEN_URL",
    "TAO_PRICE_COINBASE_URL",
    "TAO_PRICE_COINMARKETCAP_URL",
    "TAO_PRICE_TAOSTATS_URL",
):
    _url = globals()[_name]
    if urlsplit(_url).scheme not in ("http", "https") or not urlsplit(_url).netloc:
        raise ImproperlyConfigured(f"{_name}={_url!r} must be an absolute http:// or https:// URL.")
# A fresh quote further than this (in %) from the median of the fresh ones is kept but not used.
TAO_PRICE_MAX_DEVIATION_PCT = env_decimal("TAO_PRICE_MAX_DEVIATION_PCT", "2")
# A quote whose source dates it longer ago than this is not fresh, and not used.
TAO_PRICE_QUOTE_MAX_AGE_MINUTES = env_int("TAO_PRICE_QUOTE_MAX_AGE_MINUTES", 15, minimum=1)
TAO_PRICE_TIMEOUT_SECONDS = env_int("TAO_PRICE_TIMEOUT_SECONDS", 10, minimum=1)

# Display currencies (billing.fx): the ECB's daily reference rates, fetched once a day. The
# 90-day history fills an empty table or a gap; the daily file serves the days after.
FX_RATES_URL = env_url(
    "FX_RATES_URL", "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
)
FX_RATES_DAILY_URL = env_url(
    "FX_RATES_DAILY_URL", "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
)
FX_RATES_TIMEOUT_SECONDS = env_int("FX_RATES_TIMEOUT_SECONDS", 20, minimum=1)

# Alert webhooks and provider key tests go to public internet addresses only. These host names
# may also resolve to private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), e.g.
# a self-hosted Mattermost; loopback and link-local addresses stay refused even for them.
OUTBOUND_ALLOWED_PRIVATE_HOSTS = env_host_names("OUTBOUND_ALLOWED_PRIVATE_HOSTS")
