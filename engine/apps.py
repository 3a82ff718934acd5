from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class EngineConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "engine"

    def ready(self) -> None:
        # The embedded mode keeps its SQLite database, model and Celery queues under VAR_DIR: create it
        # once the settings are loaded (not as a side effect of importing them).
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
