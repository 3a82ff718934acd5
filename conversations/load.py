"""A load client for the chat websocket: a burst of shoppers connecting at once, then answers under load.

Plain asyncio and a minimal RFC 6455 client (text frames, ping, close): nothing to install, and cheap
enough per connection that the client is not what is measured. `manage.py load_chat` runs it and
prints the figures (README, "Load").

On the loopback interface every 127.x.y.z address is local, so the shoppers can come from many
client addresses (as real ones do) and the per-address flood limits count them as separate people.
"""

import asyncio
import base64
import hashlib
import ipaddress
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from engine.stats import percentile

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    """The server answered the upgrade with something else than 101 Switching Protocols."""


class WebSocket:
    """One client connection: send and receive JSON text frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, path: str, *, origin: str, source: str | None) -> "WebSocket":
        local_addr = (source, 0) if source else None
        reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr, limit=2**20)
        key = base64.b64encode(os.urandom(16))
        writer.write(
            b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n"
            % (path.encode(), host.encode(), port, key, origin.encode())
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status, *lines = head.decode("latin-1").split("\r\n")
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()  # noqa: S324 (the protocol's own)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        if " 101 " not in f"{status} " or headers.get("sec-websocket-accept") != accept:
            writer.close()
            raise HandshakeRefused(status)
        return cls(reader, writer)

    def send_json(self, frame: dict[str, Any]) -> None:
        self._send(0x1, json.dumps(frame, ensure_ascii=False).encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n])
        elif n < 2**16:
            header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
        self.writer.write(header + mask + masked)

    async def receive_json(self) -> dict[str, Any] | None:
        """The next text frame as JSON; None when the server closed the connection."""
        message = b""
        while True:
            head = await self.reader.readexactly(2)
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            payload = await self.reader.readexactly(length)
            if opcode == 0x8:
                return None
            if opcode == 0x9:
                self._send(0xA, payload)
                continue
            if opcode in (0x0, 0x1):
                message += payload
                if head[0] & 0x80:
                    frame: dict[str, Any] = json.loads(message)
                    return frame

    async def close(self) -> None:
        try:
            self._send(0x8, (1000).to_bytes(2, "big"))
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            pass
        self.writer.close()


@dataclass(frozen=True)
class LoadPlan:
    host: str = "127.0.0.1"
    port: int = 8000
    store: str = "demo"
    connections: int = 1000
    askers: int = 50
    question: str = "你好"
    addresses: int = 250  # client addresses the shoppers come from (loopback only)
    timeout: float = 60.0  # per phase


@dataclass
class LoadReport:
    connections: int
    hellos: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    burst_seconds: float = 0.0
    askers: int = 0
    answered: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def ms(q: float) -> int | None:
            value = percentile(self.latencies_ms, q)
            return None if value is None else round(value)

        return {
            "connections": self.connections,
            "hellos": self.hellos,
            "failures": dict(self.failures),
            "burst_seconds": round(self.burst_seconds, 2),
            "askers": self.askers,
            "answered": self.answered,
            "answer_p50_ms": ms(50),
            "answer_p95_ms": ms(95),
            "answer_max_ms": ms(100),
        }


class _Shopper:
    """One connected shopper: reads every frame as it comes, and times its one question."""

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self.client_id = ""
        self.question_id: int | None = None
        self.sent_at = 0.0
        # The answer's latency in seconds, or why there was none.
        self.answered: asyncio.Future[float | str] = asyncio.get_running_loop().create_future()
        self.reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while (frame := await self.socket.receive_json()) is not None:
                if frame.get("type") == "ack" and frame.get("client_id") == self.client_id:
                    self.question_id = frame["message_id"]
                elif frame.get("type") == "final" and frame.get("answer_to") == self.question_id:
                    if not self.answered.done():
                        self.answered.set_result(time.perf_counter() - self.sent_at)
                elif (
                    frame.get("type") == "error"
                    and frame.get("client_id") == self.client_id
                    and not self.answered.done()
                ):
                    self.answered.set_result(f"refused: {frame.get('code')}")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        if not self.answered.done():
            self.answered.set_result("connection closed")

    def ask(self, question: str) -> None:
        self.client_id = f"load-{uuid.uuid4().hex[:16]}"
        self.sent_at = time.perf_counter()
        self.socket.send_json({"type": "message", "text": question, "client_id": self.client_id})


def _sources(plan: LoadPlan) -> list[str | None]:
    if plan.addresses <= 1 or not ipaddress.ip_address(plan.host).is_loopback:
        return [None]
    base = int(ipaddress.ip_address("127.0.1.1"))
    return [str(ipaddress.ip_address(base + i)) for i in range(plan.addresses)]


async def _open(plan: LoadPlan, source: str | None) -> tuple[_Shopper | None, str]:
    origin = f"http://{plan.host}:{plan.port}"
    try:
        socket = await WebSocket.connect(plan.host, plan.port, f"/ws/chat/{plan.store}/", origin=origin, source=source)
    except HandshakeRefused as exc:
        return None, f"handshake refused ({exc})"
    except (OSError, asyncio.IncompleteReadError) as exc:
        return None, f"connect failed ({type(exc).__name__})"
    try:
        hello = await socket.receive_json()
    except (OSError, asyncio.IncompleteReadError):
        hello = None
    if hello is None or hello.get("type") != "hello":
        await socket.close()
        reason = "closed before hello" if hello is None else f"{hello.get('type')} {hello.get('code', '')}".strip()
        return None, reason
    return _Shopper(socket), "hello"


async def run_load(plan: LoadPlan) -> LoadReport:
    """Open `connections` at once and count the hellos, then have `askers` of them ask at the same moment."""
    report = LoadReport(connections=plan.connections)
    sources = _sources(plan)
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(_open(plan, sources[i % len(sources)])) for i in range(plan.connections)]
    done, pending = await asyncio.wait(tasks, timeout=plan.timeout)
    report.burst_seconds = time.perf_counter() - started
    for task in pending:
        task.cancel()
    if pending:
        report.failures["no hello within the timeout"] += len(pending)
    shoppers = []
    for task in done:
        shopper, outcome = task.result()
        if shopper is None:
            report.failures[outcome] += 1
        else:
            shoppers.append(shopper)
    report.hellos = len(shoppers)
    try:
        askers = shoppers[: plan.askers]
        report.askers = len(askers)
        for shopper in askers:  # one tight loop: the questions leave together
            shopper.ask(plan.question)
        await asyncio.gather(*(shopper.socket.writer.drain() for shopper in askers))
        if askers:
            await asyncio.wait([s.answered for s in askers], timeout=plan.timeout)
        for shopper in askers:
            result = shopper.answered.result() if shopper.answered.done() else "no answer within the timeout"
            if isinstance(result, float):
                report.answered += 1
                report.latencies_ms.append(result * 1000)
            else:
                report.failures[f"question not answered ({result})"] += 1
    finally:
        await asyncio.gather(*(shopper.socket.close() for shopper in shoppers), return_exceptions=True)
        for shopper in shoppers:
            shopper.reading.cancel()
    return report
