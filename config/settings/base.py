"""Settings shared by every environment; everything that differs comes from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# The embedded mode keeps its database, model and queues here (created when the apps load: engine/apps.py).
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "kb.apps.ShopDeskAdminConfig",  # django.contrib.admin with the back office's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "django_celery_beat",
    "kb",
    "conversations",
    "conversations.campaigns",
    "conversations.reports",
    "engine",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# SQLite under var/ unless DATABASE_URL points elsewhere (PostgreSQL in the scaled mode).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and immediate transactions keep the server, the engine thread and Celery from
    # tripping over "database is locked" on one file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Connections are kept (one per thread of the server's database pool): opening one per call (SQLite too)
# cost as much as the call's own queries when many shoppers asked at once.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Back-office sign-in lockout (django-axes): after AXES_FAILURE_LIMIT failed sign-ins from one address,
# that address may not sign in for AXES_COOLOFF_TIME. Counted in the database, or on Redis when scaled
# (AXES_HANDLER below).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.login_locked_out"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

# The scaled mode sets REDIS_URL: channel layer, cache and Celery broker move to Redis.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "capacity": 1000,
                "expiry": 60,
                "prefix": env.str("CHANNELS_PREFIX", default="asgi"),
            },
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    # A task not acknowledged this long (its worker died) is delivered again; task time limits stay below it.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
    AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "config.channel_layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # kombu's filesystem transport needs no server: the embedded mode stays "nothing to install".
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "celery" / "queue"),
        "data_folder_out": str(VAR_DIR / "celery" / "queue"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "config.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.exceptions.json_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.AddressRateThrottle", "config.throttling.UserRateThrottle"],
}
# API calls per client address (anonymous) and per user (signed in), e.g. "60/min"; empty: no limit.
API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="60/min")
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="1200/min")
# The largest page any API list answers (`?limit=`); a bigger limit is refused with a 400.
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=100)
SPECTACULAR_SETTINGS = {
    "TITLE": "ShopDesk API",
    "DESCRIPTION": "Knowledge base and conversation log of a self-hosted shop customer-service desk.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# The GGUF chat model. Unset: the embedded default that `manage.py fetch_model` assembles.
ENGINE_MODEL_DIR = VAR_DIR / "models"
# Named model tiers (engine/model_files.py): `fast` (0.5B, the default: first tokens in a fraction of a second
# on 2 cores) or `quality` (1.5B: reads references better, about 2.5x slower). ENGINE_MODEL_PATH: any GGUF file.
ENGINE_MODEL_FILES = {
    "fast": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "quality": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
}
ENGINE_MODEL_TIER = env.str("ENGINE_MODEL_TIER", default="fast")
if ENGINE_MODEL_TIER not in ENGINE_MODEL_FILES:
    raise ImproperlyConfigured(f"ENGINE_MODEL_TIER must be one of {', '.join(ENGINE_MODEL_FILES)}")
ENGINE_DEFAULT_MODEL_FILE = ENGINE_MODEL_FILES[ENGINE_MODEL_TIER]
ENGINE_MODEL_PATH = env.str("ENGINE_MODEL_PATH", default=str(ENGINE_MODEL_DIR / ENGINE_DEFAULT_MODEL_FILE))
# On a CPU with AMX or AVX2, the `fast` model runs as a Q8_0 copy made beside it (faster there than its q5_0 layers).
ENGINE_Q8_COPY = env.bool("ENGINE_Q8_COPY", default=env.bool("ENGINE_AMX_Q8", default=True))  # its former name

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# The engine. "embedded": it runs inside the server process on a thread (in-memory channel layer).
# "worker": `python manage.py runworker engine` processes take jobs from the Redis channel `engine`.
ENGINE_MODE = env.str("ENGINE_MODE", default="worker" if REDIS_URL else "embedded")
ENGINE_CHANNEL = "engine"
ENGINE_N_CTX = env.int("ENGINE_N_CTX", default=8192)
ENGINE_THREADS = env.int("ENGINE_THREADS", default=0)  # 0: physical cores
ENGINE_PARALLEL = env.int("ENGINE_PARALLEL", default=4)
ENGINE_QUEUE_SIZE = env.int("ENGINE_QUEUE_SIZE", default=16)
ENGINE_MAX_TOKENS = env.int("ENGINE_MAX_TOKENS", default=200)
ENGINE_MAX_SECONDS = env.float("ENGINE_MAX_SECONDS", default=30.0)
# After a knowledge-base edit, the store's prefix is evaluated again once its rows have been quiet this long.
ENGINE_WARM_DELAY_SECONDS = env.float("ENGINE_WARM_DELAY_SECONDS", default=2.0)
# Characters of FAQ entries the cached prompt prefix carries (0: none, each turn carries its entries).
ENGINE_PREFIX_ENTRY_CHARS = env.int("ENGINE_PREFIX_ENTRY_CHARS", default=0)
# Stores' prompt prefixes are evaluated ahead: after a knowledge-base edit, and when a shopper opens the chat.
ENGINE_WARM_PREFIXES = env.bool("ENGINE_WARM_PREFIXES", default=True)
# With a warmed prefix, the openings of this many of the store's entries (a turn's reference header and the
# entry as its first reference) are evaluated and saved too, one background job at a time while the engine is
# idle: a first turn opening with one of them evaluates only the rest (engine/openings.py). 0: none.
ENGINE_WARM_OPENINGS = env.int("ENGINE_WARM_OPENINGS", default=64)
ENGINE_DRAFT_TOKENS = env.int("ENGINE_DRAFT_TOKENS", default=6)
ENGINE_STATE_CACHE_MB = env.int("ENGINE_STATE_CACHE_MB", default=512)
# Saved conversation states are files here (each engine process has its own directory in it, removed when it
# ends): the kernel keeps them in its page cache, which it can take back, instead of the engine's own memory.
# Empty: they are kept in the engine's RAM.
ENGINE_STATE_DIR = env.str("ENGINE_STATE_DIR", default=str(VAR_DIR / "kv-states"))
# KV cells idle conversations may keep; beyond it the oldest are saved (attention spans every cell in use).
ENGINE_IDLE_KV_CELLS = env.int("ENGINE_IDLE_KV_CELLS", default=512)
# A job the engine has not reported on for this long is taken for lost (the worker died).
ENGINE_STALL_SECONDS = env.float("ENGINE_STALL_SECONDS", default=5.0)
ENGINE_HEARTBEAT_SECONDS = 1.0

CHAT_MAX_MESSAGE_CHARS = 2000
# Agent presence: an open console refreshes its row this often; a row older than CHAT_AGENT_PRESENCE_SECONDS
# is a console that is gone (its server died without saying goodbye).
CHAT_AGENT_PRESENCE_REFRESH_SECONDS = 20.0
CHAT_AGENT_PRESENCE_SECONDS = 60.0
# How often an open console re-reads its agent's access (deactivated, removed from a store, a new store).
CHAT_AGENT_ACCESS_REFRESH_SECONDS = 5.0
# An agent whose last console has been closed this long is gone: their chats go back to the queue.
CHAT_AGENT_AWAY_SECONDS = env.float("CHAT_AGENT_AWAY_SECONDS", default=60.0)
CHAT_HISTORY_TURNS = 6
# A ticket nobody claimed for this long is stale: the console offers to close such chats in bulk
# (`manage.py close_stale_tickets` does the same, e.g. from cron).
CHAT_TICKET_STALE_HOURS = env.float("CHAT_TICKET_STALE_HOURS", default=24.0)
# Flood control per connection: at most this many shopper messages in CHAT_RATE_WINDOW seconds.
CHAT_RATE_MESSAGES = env.int("CHAT_RATE_MESSAGES", default=8)
CHAT_RATE_WINDOW = 10.0

# Cart and unpaid-order reminders (conversations/campaigns): links in them point here.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shopdesk@localhost")
# Seconds after which the demo store's carts get their first reminder (0: its real settings apply).
REMINDER_DEMO_DELAY_SECONDS = env.int("REMINDER_DEMO_DELAY_SECONDS", default=0)
# The same on the shared cache (Redis when scaled), across tabs and servers: per visitor, and per client
# address, which many shoppers may share (an office, a carrier's NAT). 0 turns a limit off.
CHAT_VISITOR_RATE_MESSAGES = env.int("CHAT_VISITOR_RATE_MESSAGES", default=12)
CHAT_ADDRESS_RATE_MESSAGES = env.int("CHAT_ADDRESS_RATE_MESSAGES", default=40)
# New chat connections per CHAT_CONNECT_WINDOW seconds: per visitor token (tabs, reloads) and per address.
CHAT_VISITOR_RATE_CONNECTIONS = env.int("CHAT_VISITOR_RATE_CONNECTIONS", default=20)
CHAT_ADDRESS_RATE_CONNECTIONS = env.int("CHAT_ADDRESS_RATE_CONNECTIONS", default=60)
CHAT_CONNECT_WINDOW = 60.0
