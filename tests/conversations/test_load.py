"""The chat load client against a real daphne (small, bounded counts: the figures are for `make load`)."""

import asyncio
import io
import json
import os
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from conversations.load import LoadPlan, run_load
from tests.browser.conftest import Server, _database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(request, settings, tmp_path) -> Iterator[Server]:
    call_command("load_demo", stdout=io.StringIO())
    env = {
        **os.environ,
        **getattr(request, "param", {}),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "ENGINE_MODEL_PATH": str(settings.ENGINE_MODEL_PATH),
    }
    env.pop("REDIS_URL", None)
    live = Server(env, tmp_path / "daphne.log")
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_a_burst_of_shoppers_all_get_hello_and_every_simultaneous_question_is_answered(server):
    plan = LoadPlan(port=server.port, connections=40, askers=12, addresses=8, timeout=60)
    report = asyncio.run(run_load(plan))
    summary = report.summary()
    assert summary["hellos"] == 40 and summary["failures"] == {}
    assert summary["answered"] == 12 and len(report.latencies_ms) == 12
    assert summary["answer_p50_ms"] <= summary["answer_p95_ms"] <= summary["answer_max_ms"]


def test_the_command_prints_the_figures(server):
    out = io.StringIO()
    call_command("load_chat", port=server.port, connections=5, askers=2, addresses=2, json=True, stdout=out)
    figures = json.loads(out.getvalue())
    assert (figures["hellos"], figures["answered"], figures["failures"]) == (5, 2, {})


@pytest.mark.parametrize("server", [{"CHAT_ADDRESS_RATE_CONNECTIONS": "5"}], indirect=True)
def test_a_refused_burst_is_counted_not_hidden(server):
    report = asyncio.run(run_load(LoadPlan(port=server.port, connections=20, askers=0, addresses=1, timeout=60)))
    # 5 a minute from one address; a burst across the edge of a minute meets two windows: up to 10.
    assert 5 <= report.hellos <= 10
    assert report.failures == {"error rate_limited": 20 - report.hellos}
