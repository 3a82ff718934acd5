import os

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = False
SECRET_KEY = "test-only-key-not-secret-not-for-production-use"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = True
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]


if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: tests that start a `runworker` process share the test database with it.
    # One file per test run, so runs side by side never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405
# Database work runs on a pool of threads, each keeping its connection up to CONN_MAX_AGE; in tests
# each call closes it, so no thread still holds the test database when it is dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Tests that read the engine channel expect only the jobs they caused; the warm-up has its own tests.
ENGINE_WARM_PREFIXES = False
# A cold prompt of several hundred tokens takes tens of seconds on a slow 2-core machine (measured here:
# ~30 prompt tokens a second); tests of the model check answers, not speed, and the limit itself has tests.
ENGINE_MAX_SECONDS = env.float("ENGINE_MAX_SECONDS", default=180.0)
