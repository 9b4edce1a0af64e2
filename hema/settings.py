"""Settings for Hema, read from the environment.

Every value has an embedded default that works on a bare machine (SQLite file,
filesystem broker, local-memory cache) so that ``make run`` needs no server.
``DEBUG`` is off unless the environment turns it on (``make run`` and
``.env.example`` do, for development); with it off, secrets have no default.
"""

from datetime import timedelta
from pathlib import Path

import environ
import phonenumbers
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Everything the embedded defaults write at run time (the SQLite file aside): the
# filesystem broker's folders, logs, screenshots, reports. Git ignores it.
VAR_DIR = Path(env.str("HEMA_VAR_DIR", default=str(BASE_DIR / "var")))

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
_DEV_SECRET = "django-insecure-development-only-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is False.")
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Django's admin with the project's site (hema/admin_site.py).
    "hema.admin_site.HemaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "simple_history",
    "axes",
    "hema",
    "accounts",
    "inventory",
    "pricing",
    "delivery",
    "orders",
    "simulation",
]

MIDDLEWARE = [
    # First: every answer under /api/ is JSON, a database that is gone a 503.
    "hema.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "hema.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Under /admin/: times in the local time of the user's stores.
    "inventory.middleware.AdminTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "hema.urls"
WSGI_APPLICATION = "hema.wsgi.application"
ASGI_APPLICATION = "hema.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# ATOMIC_REQUESTS stays off: services own short transactions.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A database host that hangs (accepts, never answers) would hold every
    # request until the worker is killed; give up connecting after this many
    # seconds and answer 503 (hema.middleware). libpq's minimum is 2.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3)
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts ---------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: a locked-out account or address is refused before any password check.
    "accounts.backends.LockoutBackend",
    "accounts.backends.PhoneOrEmailBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# A phone number typed without its country code is read in this region (ISO
# 3166 code): the stores are in China, so 13800000000 is +8613800000000.
HEMA_DEFAULT_PHONE_REGION = env.str("HEMA_DEFAULT_PHONE_REGION", default="CN").upper()
if HEMA_DEFAULT_PHONE_REGION not in phonenumbers.SUPPORTED_REGIONS:
    raise ImproperlyConfigured(
        f"HEMA_DEFAULT_PHONE_REGION: {HEMA_DEFAULT_PHONE_REGION!r} is not a region "
        "code phone numbers know (for example CN, HK, GB)."
    )

# API tokens expire this long after they were issued (log in again for a new one).
HEMA_TOKEN_TTL_DAYS = env.int("HEMA_TOKEN_TTL_DAYS", default=30)

# How many proxies in front of the app set X-Forwarded-For (deploy/nginx.conf: 1).
# 0: the header is ignored and REMOTE_ADDR is the client (hema/net.py).
HEMA_TRUSTED_PROXY_COUNT = env.int("HEMA_TRUSTED_PROXY_COUNT", default=0)

# Log-in lock-out (django-axes, see accounts/lockout.py): this many failures for
# one account, or from one address, lock it out for the cool-off. In the
# database, so it holds across processes and while the cache is away.
AXES_FAILURE_LIMIT = env.int("HEMA_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("HEMA_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.login_key"
AXES_CLIENT_IP_CALLABLE = "hema.net.client_ip"
# A success forgets only that account's failures (accounts.lockout), never
# the address's: axes' reset would let a log-in to one's own account between
# guesses reset the lock on the account being guessed.
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True
# Lock-outs are answered where the log-in is: the API's 429 and the admin
# form's message (accounts/lockout.py), so axes' own middleware is not used.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]

# --- Internationalisation ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Languages of the human pages (issue 12) ----------------------------------
# The admin and the shelf product page (/q/<store>/<sku>) follow the browser's
# language: English by default, Simplified Chinese for the Shanghai stores. The
# API keeps answering in LANGUAGE_CODE (hema/i18n.py). The project's own
# catalogues are hema/locale/<lang>/LC_MESSAGES/django.po; their .mo files are
# compiled at install (Makefile) and in the image build (deploy/Dockerfile) with
# Babel, never committed. Django's own translations come with Django.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "hema" / "locale"]
# After the session (the language cookie may be read), before CommonMiddleware.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1,
    "hema.i18n.HumanPagesLocaleMiddleware",
)
# Where the shelf product page sends a shopper without the app ("" hides the
# link; the page then offers a refresh for the price now).
HEMA_APP_DOWNLOAD_URL = env.str("HEMA_APP_DOWNLOAD_URL", default="")

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Cache ------------------------------------------------------------------
# Redis holds only what can be lost (throttle counters, the weather): it fails
# open (hema/cache.py). A hung Redis costs at most the socket timeouts, and then
# once per breaker window, not on every request.
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_TIMEOUT_SECONDS = env.float("CACHE_TIMEOUT_SECONDS", default=0.25)
CACHES = {
    "default": (
        {
            "BACKEND": "hema.cache.FailOpenRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": CACHE_TIMEOUT_SECONDS,
                "socket_timeout": CACHE_TIMEOUT_SECONDS,
                "breaker_seconds": env.float("CACHE_BREAKER_SECONDS", default=5.0),
            },
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's three, with a JSON parser that answers a body nested too deeply 400.
    "DEFAULT_PARSER_CLASSES": [
        "hema.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "hema.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # drf-spectacular's, with the refusals every operation shares (hema/schema.py).
    "DEFAULT_SCHEMA_CLASS": "hema.schema.AutoSchema",
    "EXCEPTION_HANDLER": "hema.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "hema.throttling.AddressRateThrottle",
        "hema.throttling.AccountRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="600/min"),
        "user": env.str("THROTTLE_USER", default="1200/min"),
    },
    # Throttles count the address hema.net.client_ip names (not a made-up header).
    "NUM_PROXIES": HEMA_TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hema API",
    "DESCRIPTION": "Fresh-food store and fulfillment center: stock, scan, orders, "
    "prices and delivery.\n\n"
    "**Sign in**: `POST /api/v1/auth/login/` (or `signup/`) returns a token; send "
    "`Authorization: Token <token>` (the *Authorize* box takes `Token <token>`).\n\n"
    "**Errors**: every 4xx answers the `Error` schema, "
    '`{"error": code, "message": text, "extra": {...}}`; `extra.field` '
    "names the input at fault, and on `invalid_input` `extra.fields` maps every "
    "field at fault to its reasons. 429 says `Retry-After`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Request bodies get their own components, which say what a request must
    # carry (a non-blank string has minLength 1) apart from what answers show.
    "COMPONENT_SPLIT_REQUEST": True,
    # The API takes JSON: the form parsers serve only the browsable API.
    "PARSER_WHITELIST": ["hema.parsers.JSONParser"],
    # Operations are grouped by these tags (hema.schema.AutoSchema.get_tags).
    "TAGS": [
        {"name": "auth", "description": "Sign up, log in and log out (API tokens)."},
        {
            "name": "stores",
            "description": "Stores, catalogues, shelf QR codes.",
        },
        {"name": "scan", "description": "What a shelf label's QR code reads in store."},
        {"name": "prices", "description": "The electronic shelf label feed."},
        {"name": "members", "description": "The signed-in member and their addresses."},
        {"name": "wallet", "description": "The stored-value wallet and its top-ups."},
        {"name": "carts", "description": "Carts in store and in the app; checkout."},
        {"name": "orders", "description": "Orders: payment, cancel and refunds."},
        {"name": "webhooks", "description": "Payment providers' signed notices."},
        {"name": "picking", "description": "Staff: claim pick tasks, scan, bag."},
        {"name": "rail", "description": "The ceiling rail: bag events and places."},
        {"name": "packing", "description": "Staff: pack, hand over pickups."},
    ],
    # Several models have a "state": name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "CartStateEnum": "orders.models.CartState",
        "OrderStateEnum": "orders.models.OrderState",
        "OrderLineStateEnum": "orders.models.OrderLineState",
        "PaymentStateEnum": "orders.models.PaymentState",
        "RefundStateEnum": "orders.models.RefundState",
        "ReservationStateEnum": "inventory.models.ReservationState",
    },
}

# --- Celery -----------------------------------------------------------------
# Unset broker: kombu's filesystem transport under var/, so `make run` needs no
# server and a real worker still runs the jobs.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# A send to a broker that is gone tries once more, at once, then gives up
# (kombu would otherwise retry for the whole connect timeout): the request that
# sent it has committed and a sweep does the work (hema/jobs.py).
HEMA_BROKER_SEND_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **HEMA_BROKER_SEND_RETRY,
    **(
        {
            "data_folder_in": str(VAR_DIR / "broker"),
            "data_folder_out": str(VAR_DIR / "broker"),
            "processed_folder": str(VAR_DIR / "broker-processed"),
            # kombu keeps its broadcast tables in ./control unless told otherwise.
            "control_folder": str(VAR_DIR / "broker-control"),
            "store_processed": False,
        }
        if CELERY_BROKER_URL.startswith("filesystem")
        else {}
    ),
}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# A broker that is down must cost a request little: fail a send fast (the work is
# in the database already and a sweep does it, see hema/jobs.py).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # Unpaid checkouts hold stock for 15 minutes; give it back once they lapse.
    "inventory-release-expired-reservations": {
        "task": "inventory.release_expired_reservations",
        "schedule": crontab(minute="*"),
    },
    # Prices move by the store's local hour: reprice every store (fanned out per
    # store, weather refreshed first) at the top of each hour.
    "pricing-reprice-hourly": {
        "task": "pricing.reprice_all",
        "schedule": crontab(minute=0),
    },
    # Daily-fresh markdowns step down every half hour inside each store's
    # markdown window (the hourly run steps them at :00, this one at :30).
    "pricing-markdowns": {
        "task": "pricing.markdown_all",
        "schedule": crontab(minute=30),
    },
    # Between hourly runs, refresh each store's weather; a store whose weather
    # changes class (another set of weather rules applies) is repriced at once.
    "pricing-watch-weather": {
        "task": "pricing.watch_weather",
        "schedule": crontab(minute="15,45"),
    },
    # Checkouts not paid within their hold are cancelled and their stock returned.
    "orders-expire-unpaid": {
        "task": "orders.expire_unpaid",
        "schedule": crontab(minute="*"),
    },
    # Refunds whose task was lost, whose backoff after a failed attempt has
    # passed, or that a provider never confirmed are sent again (each refund's
    # next_attempt_at says when; every minute so that a 1-minute backoff holds).
    "orders-sweep-refunds": {
        "task": "orders.sweep_refunds",
        "schedule": crontab(minute="*"),
    },
    # Idempotency keys are kept 24 hours, then forgotten.
    "orders-purge-idempotency-keys": {
        "task": "orders.purge_idempotency_keys",
        "schedule": crontab(minute=17),
    },
    # Staff scanners' Idempotency-Keys are kept 24 hours too, then forgotten.
    "delivery-purge-idempotency-keys": {
        "task": "delivery.purge_idempotency_keys",
        "schedule": crontab(minute=19),
    },
    # The dispatcher: every 30 seconds, one tick per store with riders on shift,
    # on its own `dispatch` queue (CELERY_TASK_ROUTES).
    "delivery-dispatch": {
        "task": "delivery.dispatch_all",
        "schedule": 30.0,
    },
    # Nightly, in the quiet hour: recompute every store's stock counts from the
    # ledger and the held reservations; drift is recorded and logged, never fixed.
    "inventory-reconcile": {
        "task": "inventory.reconcile",
        "schedule": crontab(hour=3, minute=30),
    },
    # Nightly, after the forecast's predict: each store's online buffers from
    # its forecast in-store demand while an order waits to be picked, on the
    # `forecast` queue. 21:00 UTC is 05:00 in Shanghai, before the demo stores
    # open; the buffers are for the trading day in progress (or the next).
    "inventory-set-online-buffers": {
        "task": "forecast.set_online_buffers_all",
        "schedule": crontab(hour=21, minute=0),
    },
    # Fold each store's new sale rows of the ledger into the daily sales history
    # (one task per store, on the `forecast` queue), before the hour's repricing.
    "inventory-fold-sales-history": {
        "task": "inventory.fold_sales_history",
        "schedule": crontab(minute=55),
    },
    # The demand forecast, in each store's own night: every hour, start the
    # nightly predict of the stores whose local hour is HEMA_FORECAST_PREDICT_HOUR
    # and the weekly refit of those at HEMA_FORECAST_REFIT_WEEKDAY/HOUR (on the
    # `forecast` queue, see CELERY_TASK_ROUTES).
    "forecast-predict-due": {
        "task": "forecast.predict_due",
        "schedule": crontab(minute=5),
    },
    "forecast-refit-due": {
        "task": "forecast.refit_due",
        "schedule": crontab(minute=10),
    },
}

# The dispatcher's tasks have a queue of their own, so that pricing, forecasts
# and other jobs never delay a tick: run a worker with `-Q dispatch` for it.
# The forecast's fan-out (chunks of products per store, minutes of CPU a night)
# has its own queue too: run a worker with `-Q forecast` for it.
HEMA_FORECAST_QUEUE = env.str("HEMA_FORECAST_QUEUE", default="forecast")
CELERY_TASK_ROUTES = {
    "delivery.dispatch_all": {"queue": "dispatch"},
    "delivery.dispatch_store": {"queue": "dispatch"},
    # Forecast work has its own queue too (a worker with `-Q forecast`), so that
    # a night of forecasting never delays checkout-side jobs: every forecast.*
    # task (predict, refit, their chunks, the online buffers) and the sales
    # history that feeds it.
    "forecast.*": {"queue": HEMA_FORECAST_QUEUE},
    "inventory.fold_sales_history": {"queue": HEMA_FORECAST_QUEUE},
    "inventory.fold_sales_history_store": {"queue": HEMA_FORECAST_QUEUE},
}
# Store products per forecast chunk task (one task fits or predicts these).
HEMA_FORECAST_CHUNK_SIZE = env.int("HEMA_FORECAST_CHUNK_SIZE", default=100)
# Forecast jobs by the store's local time (weekday: Monday 0 .. Sunday 6).
HEMA_FORECAST_PREDICT_HOUR = env.int("HEMA_FORECAST_PREDICT_HOUR", default=2)
HEMA_FORECAST_REFIT_WEEKDAY = env.int("HEMA_FORECAST_REFIT_WEEKDAY", default=6)
HEMA_FORECAST_REFIT_HOUR = env.int("HEMA_FORECAST_REFIT_HOUR", default=0)

# --- Domain defaults --------------------------------------------------------
# The host printed in shelf QR codes; the app opens /q/<store>/<sku> on it.
HEMA_QR_BASE_URL = env.str("HEMA_QR_BASE_URL", default="http://localhost:8000")

# Store weather for pricing (inventory/weather.py). "fixed" serves the same
# weather every hour (HEMA_WEATHER_FIXED: condition,°C,mm) and needs no network:
# the embedded default and the demo. Production uses "open-meteo" (no key).
HEMA_WEATHER_PROVIDER = env.str("HEMA_WEATHER_PROVIDER", default="fixed")
HEMA_WEATHER_FIXED = env.str("HEMA_WEATHER_FIXED", default="clear,18.0,0.0")
HEMA_OPEN_METEO_URL = env.str(
    "HEMA_OPEN_METEO_URL", default="https://api.open-meteo.com/v1/forecast"
)
HEMA_WEATHER_TIMEOUT_SECONDS = env.float("HEMA_WEATHER_TIMEOUT_SECONDS", default=5.0)
HEMA_WEATHER_RETRIES = env.int("HEMA_WEATHER_RETRIES", default=2)
HEMA_WEATHER_CACHE_SECONDS = env.int("HEMA_WEATHER_CACHE_SECONDS", default=600)

# Repricing writes in batches of this many products, one short transaction each,
# so a checkout waits at most one batch behind it. A run whose heartbeat (touched
# as batches complete) is older than HEMA_REPRICING_STALE_SECONDS is dead: the
# label feed stops waiting for it and the store's next run marks it failed.
HEMA_REPRICING_BATCH_SIZE = env.int("HEMA_REPRICING_BATCH_SIZE", default=500)
HEMA_REPRICING_STALE_SECONDS = env.int("HEMA_REPRICING_STALE_SECONDS", default=60)
# The sales history folds ledger rows older than this (inventory/forecast/
# history.py): a row committed late never hides below the watermark.
HEMA_SALES_SETTLE_SECONDS = env.int("HEMA_SALES_SETTLE_SECONDS", default=120)
# A task message delivered more often than this (each time its worker died under
# it) is not run again: it is recorded (admin: task deliveries), logged at ERROR
# and acknowledged; the periodic sweeps do its work (hema/taskguard.py).
HEMA_TASK_MAX_DELIVERIES = env.int("HEMA_TASK_MAX_DELIVERIES", default=5)

# Tax rates by product tax class; shelf prices include tax.
# Delivery: the dispatcher's solver (a dotted path to `solve(problem, *,
# time_budget_seconds, max_iterations, seed)`) and its time budget per tick;
# a quote's token lives HEMA_QUOTE_TTL_SECONDS.
HEMA_DISPATCH_SOLVER = env.str(
    "HEMA_DISPATCH_SOLVER", default="delivery.routing.solve.solve"
)
HEMA_DISPATCH_BUDGET_SECONDS = env.float("HEMA_DISPATCH_BUDGET_SECONDS", default=1.5)
HEMA_QUOTE_TTL_SECONDS = env.int("HEMA_QUOTE_TTL_SECONDS", default=300)

HEMA_TAX_RATES = {"standard": "0.13", "reduced": "0.09", "zero": "0"}
# Unpaid checkouts hold their stock this long.
HEMA_CHECKOUT_HOLD_MINUTES = env.int("HEMA_CHECKOUT_HOLD_MINUTES", default=15)
# Carts left alone this long expire.
HEMA_CART_TTL_HOURS = env.int("HEMA_CART_TTL_HOURS", default=24)
# External payment providers: name -> webhook signing secret. The "sandbox"
# provider with its public secret exists only while DEBUG (the demo); otherwise
# only when HEMA_PAYMENT_PROVIDERS names it, with the secret given there.
HEMA_PAYMENT_PROVIDERS = env.dict("HEMA_PAYMENT_PROVIDERS", default={})
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - public by design
if DEBUG:
    HEMA_PAYMENT_PROVIDERS.setdefault("sandbox", SANDBOX_WEBHOOK_SECRET)
# A webhook signed with an empty key, or with the sandbox's public one outside
# development, can be forged by anyone: refuse to start with either.
for _name, _secret in HEMA_PAYMENT_PROVIDERS.items():
    if not _secret.strip() or (not DEBUG and _secret == SANDBOX_WEBHOOK_SECRET):
        raise ImproperlyConfigured(
            f"HEMA_PAYMENT_PROVIDERS: the webhook secret of {_name} is empty or "
            "public; give each provider its own secret (name=secret,...)."
        )
HEMA_WEBHOOK_TOLERANCE_SECONDS = 300
# Refunds (orders/refunds.py): a failed attempt is retried after RETRY seconds,
# doubled each time; after MAX_ATTEMPTS the refund needs a manager's attention.
# A refund sent to a provider and not confirmed by its webhook within CONFIRM
# seconds is sent again (same idempotency key); LEASE bounds one attempt.
HEMA_REFUND_MAX_ATTEMPTS = env.int("HEMA_REFUND_MAX_ATTEMPTS", default=8)
HEMA_REFUND_RETRY_SECONDS = env.int("HEMA_REFUND_RETRY_SECONDS", default=60)
HEMA_REFUND_CONFIRM_SECONDS = env.int("HEMA_REFUND_CONFIRM_SECONDS", default=3600)
HEMA_REFUND_LEASE_SECONDS = env.int("HEMA_REFUND_LEASE_SECONDS", default=300)

# --- Logging ----------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").strip().upper()
if LOG_LEVEL not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be one of debug, info, warning, error or critical, "
        f"not {LOG_LEVEL.lower()!r}."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # Any case: LOG_LEVEL=warning and WARNING are the same level.
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Failing well -----------------------------------------------------------
# While the database is gone, /api/ answers 503 with this Retry-After.
HEMA_RETRY_AFTER_SECONDS = env.int("HEMA_RETRY_AFTER_SECONDS", default=5)
# /healthz asks the cache and the broker at most this often per process (the
# database on every call): a load balancer polling it costs them little.
HEMA_HEALTH_PROBE_SECONDS = env.float("HEMA_HEALTH_PROBE_SECONDS", default=5.0)
HEMA_HEALTH_BROKER_TIMEOUT_SECONDS = env.float(
    "HEMA_HEALTH_BROKER_TIMEOUT_SECONDS", default=1.0
)

# --- Security headers (every response, every mode) --------------------------
# Nothing inline runs: the admin has no inline scripts or styles, and the API
# docs load their init script from a URL (SpectacularSwaggerSplitView).
HEMA_CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# drf-spectacular's Swagger UI page has one inline <style> block.
HEMA_CONTENT_SECURITY_POLICY_PATHS = {
    "/api/docs/": {"style-src": "'self' 'unsafe-inline'"},
}
# The backend serves no page that needs a device feature.
HEMA_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)

# --- Security (production) --------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading binds the domain and every subdomain to HTTPS in browsers for
        # months and is slow to undo: the domain's owner opts in with
        # SECURE_HSTS_PRELOAD=True, so Django's reminder (W021) is not a failure.
        SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
