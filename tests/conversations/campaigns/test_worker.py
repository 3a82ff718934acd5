"""The outbox through a real Celery worker process, on Redis and on the filesystem broker: each reminder is
sent exactly once, also when the worker is killed (SIGKILL) in the middle of sending."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from conversations.campaigns.models import DeliveryAttempt, OutboxMessage
from conversations.campaigns.reminders import reminders_plan
from conversations.campaigns.services import reminder_settings_for
from conversations.models import Message
from conversations.services.widget import visitor_create
from tests.conversations.campaigns.factories import CartFactory, CartItemFactory, ShopCustomerFactory
from tests.kb.factories import StoreFactory

ROOT = Path(__file__).resolve().parents[3]
REDIS = "redis://127.0.0.1:6379/0"
WAIT = 60.0  # seconds, an upper bound for each wait; the test goes on as soon as the condition holds


class HangingEndpoint:
    """A shop endpoint whose first request hangs until released (the worker is killed meanwhile)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.ids.append(self.headers["webhook-id"])
                if len(endpoint.ids) == 1:
                    endpoint.first_arrived.set()
                    endpoint.release.wait(WAIT)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _filesystem_options(var_dir: Path) -> dict[str, str | bool]:
    queue = var_dir / "celery" / "queue"
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(var_dir / "celery" / "processed"),
        "control_folder": str(var_dir / "celery" / "control"),
        "store_processed": False,
    }


def _start_worker(*, broker: str, queue: str, var_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": _database_url(), "VAR_DIR": str(var_dir)}
    if broker == "redis":
        env["REDIS_URL"] = REDIS
        env["CHANNELS_PREFIX"] = queue
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--concurrency", "1"]
    return subprocess.Popen(
        [*command, "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _producer(*, broker: str, var_dir: Path) -> Celery:
    if broker == "redis":
        return Celery("producer", broker=REDIS)
    app = Celery("producer", broker="filesystem://")
    app.conf.broker_transport_options = _filesystem_options(var_dir)
    return app


def _wait_for(condition, what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


def _relays_done(log: Path) -> int:
    """Relay tasks the worker finished (the one killed mid-send never does)."""
    return sum("campaigns.outbox_relay[" in line and "succeeded" in line for line in log.read_text().splitlines())


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("broker", [pytest.param("redis", marks=pytest.mark.redis), "filesystem"])
def test_a_worker_killed_mid_send_leaves_the_row_to_be_sent_exactly_once_after_restart(broker, tmp_path):
    var_dir = tmp_path / "var"
    for folder in _filesystem_options(var_dir).values():
        if isinstance(folder, str):
            Path(folder).mkdir(parents=True, exist_ok=True)
    endpoint = HangingEndpoint()
    store = StoreFactory(slug=f"shop-{uuid.uuid4().hex[:6]}")
    row = reminder_settings_for(store=store)
    row.webhook_url = endpoint.url
    row.send_email = False
    row.quiet_start = row.quiet_end  # no quiet hours: the test runs at any time of day
    row.save()
    customer = ShopCustomerFactory(store=store, visitor_token=visitor_create(store=store).token)
    cart = CartFactory(store=store, customer=customer, changed_at=timezone.now() - timedelta(hours=2))
    CartItemFactory(cart=cart)
    assert reminders_plan(now=timezone.now()).decided == 1
    assert set(OutboxMessage.objects.values_list("channel", flat=True)) == {"chat", "webhook"}

    queue = f"test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    producer = _producer(broker=broker, var_dir=var_dir)
    worker = _start_worker(broker=broker, queue=queue, var_dir=var_dir, log=log)
    try:
        producer.send_task("campaigns.outbox_relay", queue=queue)
        _wait_for(endpoint.first_arrived.is_set, "the webhook to arrive", log)
        os.killpg(worker.pid, signal.SIGKILL)  # mid-send: the row's transaction is still open
        worker.wait(10)
        endpoint.release.set()
        webhook = OutboxMessage.objects.get(channel="webhook")
        assert webhook.status == "pending" and webhook.attempts == 0

        worker = _start_worker(broker=broker, queue=queue, var_dir=var_dir, log=log)
        producer.send_task("campaigns.outbox_relay", queue=queue)
        _wait_for(lambda: OutboxMessage.objects.filter(channel="webhook", status="sent").exists(), "the resend", log)
        # Another relay after that finds nothing left to send.
        producer.send_task("campaigns.outbox_relay", queue=queue)
        _wait_for(lambda: _relays_done(log) == 2, "the second relay after the restart", log)
    finally:
        _stop(worker)
        endpoint.close()
        producer.close()

    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}
    assert DeliveryAttempt.objects.filter(ok=True).count() == 2  # one per channel
    assert [m.text for m in Message.objects.all() if "reminder" in m.flags].__len__() == 1
    # The shop saw the cut-off delivery and its resend under one webhook-id, which is what it de-duplicates on.
    assert len(endpoint.ids) == 2 and len(set(endpoint.ids)) == 1
