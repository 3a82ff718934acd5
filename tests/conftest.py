import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test whose service is missing is skipped locally with the reason; in CI it fails instead."""
    from django.conf import settings

    missing: dict[str, str] = {}
    if not _reachable("127.0.0.1", 6379):
        missing["redis"] = "Redis is not running on 127.0.0.1:6379"
    if not _reachable("127.0.0.1", 5432):
        missing["postgres"] = "PostgreSQL is not running on 127.0.0.1:5432"
    if not os.path.exists(settings.ENGINE_MODEL_PATH):
        missing["model"] = f"no model at {settings.ENGINE_MODEL_PATH}; run `python manage.py fetch_model`"
    if not any(os.path.exists(p) for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser")):
        missing["browser"] = "chromium is not installed (apt-get install chromium)"
    if IN_CI:
        return
    for item in items:
        for marker, reason in missing.items():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def store_factory():
    from tests.kb.factories import StoreFactory

    return StoreFactory


@pytest.fixture
def staff_user_factory():
    from tests.kb.factories import StaffUserFactory

    return StaffUserFactory


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Tests reuse row ids (the database is emptied between them): nothing cached may outlive a test."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
