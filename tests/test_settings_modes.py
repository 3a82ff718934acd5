"""The settings modes, each in a fresh interpreter so the environment is read as a deployment would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(code_or_args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "p" + "Xq7!vR2$kL9@mN4#wT6%yB8^zC1&dF3*gH5(jK0)sA" * 2,
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
}


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], {**PRODUCTION_ENV, "VAR_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = _run(["manage.py", "check"], {**env, "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


@pytest.mark.redis
def test_redis_url_moves_channel_layer_and_cache_to_redis(tmp_path):
    code = """
import django, asyncio
django.setup()
from django.conf import settings
from django.core.cache import cache
from channels.layers import get_channel_layer
assert settings.CELERY_BROKER_URL.startswith("redis://"), settings.CELERY_BROKER_URL
cache.set("shopdesk-settings-probe", "ok", 30)
assert cache.get("shopdesk-settings-probe") == "ok"
layer = get_channel_layer()
async def roundtrip():
    name = await layer.new_channel()
    await layer.send(name, {"type": "probe", "text": "你好"})
    return await layer.receive(name)
print(type(layer).__name__, asyncio.run(roundtrip())["text"])
"""
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "VAR_DIR": str(tmp_path),
    }
    result = _run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "RedisChannelLayer 你好"


def test_embedded_default_uses_sqlite_under_var_and_in_memory_layer(tmp_path):
    code = """
import django
django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(db["ENGINE"].rsplit(".", 1)[-1], db["NAME"], settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1])
"""
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.local", "VAR_DIR": str(tmp_path)}
    result = _run(["-c", code], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sqlite3", str(tmp_path / "db.sqlite3"), "InMemoryChannelLayer"]


@pytest.mark.postgres
def test_suite_runs_on_the_expected_database():
    """`make test` runs the suite a second time on PostgreSQL; this proves that run really used it."""
    from django.db import connection

    expected = os.environ.get("EXPECT_DB_VENDOR", connection.vendor)
    assert connection.vendor == expected
