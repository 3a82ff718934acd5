"""The shopper's chat websocket: `/ws/chat/<store>/`. The frames are documented in README.md."""

import asyncio
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from django.conf import settings

from config.exceptions import ApplicationError
from conversations import realtime, selectors
from conversations.consumers.frames import FrameConsumer, database_call, frame_client_id, frame_id
from conversations.engine_bridge import engine_application
from conversations.limits import Limit, limit_hit
from conversations.models import Conversation, Message
from conversations.services import answers, handoff, messages, widget
from engine.embedded import ensure_embedded_worker
from engine.generate import AnswerStream
from kb.services import store_prefix_warm_message

logger = logging.getLogger(__name__)

_TEXTS = {
    "identity_refused": {
        "zh": "身份校验未通过，已按匿名访客为您服务。",
        "en": "Your sign-in could not be verified; you are chatting as a guest.",
    },
    "rate_limited": {
        "zh": "您发送得太快了，请稍等几秒，未发送的消息会自动重发。",
        "en": "You are sending too fast; unsent messages will be sent again in a few seconds.",
    },
    "connections_limited": {
        "zh": "连接过于频繁，请稍后再试，我们会自动重新连接。",
        "en": "Too many connections right now; we will reconnect in a moment.",
    },
}


def _text(lang: str, key: str) -> str:
    return _TEXTS[key].get(lang, _TEXTS[key]["zh"])


@dataclass(frozen=True)
class _Opened:
    conversation: Conversation
    identity_refused: bool
    hello: dict[str, Any]


def _connect_checks(address: str, visitor_token: str) -> list[tuple[Limit, str]]:
    window = settings.CHAT_CONNECT_WINDOW
    checks = [(Limit("address-connections", settings.CHAT_ADDRESS_RATE_CONNECTIONS, window), address)]
    if visitor_token:
        checks.append((Limit("visitor-connections", settings.CHAT_VISITOR_RATE_CONNECTIONS, window), visitor_token))
    return checks


def _message_checks(address: str, visitor_id: int) -> list[tuple[Limit, str]]:
    window = settings.CHAT_RATE_WINDOW
    return [
        (Limit("visitor-messages", settings.CHAT_VISITOR_RATE_MESSAGES, window), str(visitor_id)),
        (Limit("address-messages", settings.CHAT_ADDRESS_RATE_MESSAGES, window), address),
    ]


_limit_hit_threaded = sync_to_async(limit_hit, thread_sensitive=False)


async def _limit_hit(*, checks: list[tuple[Limit, str]]) -> Limit | None:
    """The flood limits, counted where they cost least: a cache in this process's memory (the embedded
    mode) right here, as a dictionary is; any other (Redis) on a worker thread, never blocking the event
    loop on the network, and never queued behind the database calls."""
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        return limit_hit(checks=checks)
    return await _limit_hit_threaded(checks=checks)


def _open_session(
    store_slug: str, query: dict[str, str], conversation_id: int | None, headers: dict[bytes, bytes]
) -> _Opened:
    session = widget.widget_connect(
        store_slug=store_slug,
        origin=headers.get(b"origin", b"").decode("latin-1"),
        host=headers.get(b"host", b"").decode("latin-1"),
        visitor_token=query["visitor"],
        customer_id=query["customer"],
        signature=query["sig"],
        conversation_id=conversation_id,
    )
    conversation = session.conversation
    if query["product"]:  # a page without a product (the cart, the home page) leaves the last one in place
        widget.conversation_view_product(conversation=conversation, sku=query["product"])
    hello = realtime.widget_hello_frame(
        conversation=conversation,
        visitor_token=session.visitor.token,
        verified=session.verified,
        messages=selectors.message_list_recent(conversation=conversation),
        waiting=selectors.handoff_status_extra(conversation=conversation),
    )
    return _Opened(conversation=conversation, identity_refused=session.identity_refused, hello=hello)


def _save_question(conversation: Conversation, text: str, client_id: str | None) -> tuple[Message, bool, bool]:
    """The shopper's message, whether it is new, and whether it already has an answer."""
    message, created = messages.message_receive_customer(conversation=conversation, text=text, client_id=client_id)
    answered = not created and selectors.question_answered_or_in_flight(question=message)
    return message, created, answered


@dataclass(frozen=True)
class _Received:
    """A shopper's message saved, and what to do about it, from one trip to the database."""

    question: Message
    created: bool
    prepared: answers.PreparedAnswer | None  # None: not to be answered now (a re-send)
    failure: Exception | None = None  # preparing the answer failed after the message was saved


def _receive_question(
    conversation: Conversation, text: str, client_id: str | None, product: str | None, job_id: str, busy: bool
) -> _Received:
    """Save the message and prepare its answer in one database call: with many shoppers asking at once,
    each trip through the thread pool and each connection taken cost as much as the work itself."""
    question, created, answered = _save_question(conversation, text, client_id)
    if answered or (not created and busy):
        return _Received(question=question, created=created, prepared=None)
    try:
        if product:  # the page this message was typed on (another tab may be on another product)
            widget.conversation_view_product(conversation=conversation, sku=product)
        prepared = answers.answer_prepare(conversation=conversation, question=question, job_id=job_id)
    except Exception as exc:
        return _Received(question=question, created=created, prepared=None, failure=exc)
    return _Received(question=question, created=created, prepared=prepared)


def _status_frame(conversation: Conversation) -> dict[str, Any]:
    conversation.refresh_from_db(fields=["status", "outcome", "closed_at"])
    return {
        "type": "status",
        "status": conversation.status,
        **selectors.handoff_status_extra(conversation=conversation),
    }


@dataclass
class _PendingJob:
    """An answer this connection asked the engine for, watched until its final frame arrives."""

    question: Message
    seen: float
    retry: bool
    text: str = ""
    engine_channel: str | None = None


class ChatConsumer(FrameConsumer):
    conversation: Conversation
    group: str

    async def connect(self) -> None:
        raw_query = parse_qs(self.scope.get("query_string", b"").decode())
        query = {
            key: (raw_query.get(key) or [""])[0]
            for key in ("visitor", "customer", "sig", "lang", "conversation", "product")
        }
        query["visitor"] = query["visitor"][:64]
        self.lang = "en" if query["lang"] == "en" else "zh"
        conversation_id = int(query["conversation"]) if query["conversation"].isdigit() else None
        headers = dict(self.scope.get("headers", []))
        self.address = str((self.scope.get("client") or ["unknown"])[0])
        if await _limit_hit(checks=_connect_checks(self.address, query["visitor"])) is not None:
            # Accepted only to say why: a refused handshake tells the browser nothing.
            await self.accept()
            await self._error(_text(self.lang, "connections_limited"), code="rate_limited")
            await self.close(code=4429)
            return
        try:
            session = await database_call(_open_session)(
                self.scope["url_route"]["kwargs"]["store"], query, conversation_id, headers
            )
        except ApplicationError:
            await self.close(code=4404)
            return
        except PermissionError as exc:
            logger.info("chat refused for origin %r", str(exc))
            await self.close(code=4403)
            return
        self.conversation = session.conversation
        self.group = realtime.conversation_group(self.conversation.pk)
        self._pending: dict[str, _PendingJob] = {}
        self._sent: deque[float] = deque()
        await ensure_embedded_worker(engine_application)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self._watchdog: asyncio.Future[None] | None = None
        await self.accept()
        await self.send_json(session.hello)
        if session.identity_refused:
            await self._error(_text(self.lang, "identity_refused"), code="identity_refused")
        await self._warm_store_prefix()

    async def _warm_store_prefix(self) -> None:
        """While the shopper types, the engine makes sure the store's prompt prefix is evaluated."""
        message = store_prefix_warm_message(store_id=self.conversation.store_id)
        if message is None:
            return
        try:
            await self.channel_layer.send(settings.ENGINE_CHANNEL, message)
        except Exception:
            logger.info("could not ask the engine to warm store %s's prefix", self.conversation.store_id)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            if self._watchdog is not None:
                self._watchdog.cancel()

    # --- frames from the shopper -----------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type")
        if kind == "message":
            await self._on_message(content)
        elif kind == "cancel":
            await self._on_cancel()
        elif kind == "sync":
            await self._on_sync(content)
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "feedback":
            await self._on_feedback(content)
        elif kind == "csat":
            await self._on_csat(content)
        elif kind == "handoff":
            await self._on_handoff()
        elif kind == "close":
            await self._on_close()
        elif kind == "contact":
            await self._on_contact(content)
        elif kind == "view":
            await self._on_view(content)
        else:
            await self._error(f"Unknown frame type {kind!r}.")

    async def _on_view(self, content: dict[str, Any]) -> None:
        """The shopper moved to another product page (a single-page shop): later questions are about it."""
        sku = content.get("product", "")
        if not isinstance(sku, str) or len(sku) > 64:
            await self._error("A view frame needs a product SKU as a string of at most 64 characters.")
            return
        known = await database_call(widget.conversation_view_product)(conversation=self.conversation, sku=sku)
        await self.send_json({"type": "view_saved", "product": sku if known else ""})

    def _flooding(self) -> bool:
        """More than CHAT_RATE_MESSAGES messages in the last CHAT_RATE_WINDOW seconds on this connection."""
        now = time.monotonic()
        while self._sent and now - self._sent[0] > settings.CHAT_RATE_WINDOW:
            self._sent.popleft()
        if len(self._sent) >= settings.CHAT_RATE_MESSAGES:
            return True
        self._sent.append(now)
        return False

    async def _on_message(self, content: dict[str, Any]) -> None:
        text, client_id = content.get("text"), content.get("client_id")
        if client_id is not None and not frame_client_id(client_id):
            await self._error("client_id must be 1 to 64 printable characters.")
            return
        if not isinstance(text, str):
            await self._error("A message needs its text as a string.", client_id=client_id)
            return
        product = content.get("product")
        if product is not None and (not isinstance(product, str) or len(product) > 64):
            await self._error("A message's product is an SKU string of at most 64 characters.", client_id=client_id)
            return
        if self._flooding() or await _limit_hit(checks=_message_checks(self.address, self.conversation.visitor_id)):
            await self._error(_text(self.lang, "rate_limited"), code="rate_limited", client_id=client_id)
            return
        job_id = uuid.uuid4().hex
        try:
            received = await database_call(_receive_question)(
                self.conversation, text, client_id, product, job_id, bool(self._pending)
            )
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_message", client_id=client_id)
            return
        question = received.question
        await self.send_json(
            {"type": "ack", "message_id": question.pk, "client_id": client_id, "duplicate": not received.created}
        )
        if received.failure is not None:
            raise received.failure
        if received.prepared is not None:
            await self._answer(question, job_id, received.prepared)

    async def _ask_engine(self, question: Message, *, retry: bool = False) -> None:
        job_id = uuid.uuid4().hex
        prepared = await database_call(answers.answer_prepare)(
            conversation=self.conversation, question=question, job_id=job_id
        )
        await self._answer(question, job_id, prepared, retry=retry)

    async def _answer(
        self, question: Message, job_id: str, prepared: answers.PreparedAnswer, *, retry: bool = False
    ) -> None:
        if prepared.decision is None:
            return  # a human has this conversation: the bot stays silent
        if prepared.reply is not None:
            frame = realtime.final_frame(
                prepared.reply, job_id=job_id, answer_to=question.pk, handoff=prepared.ticket is not None
            )
            await self._forward_answer(frame)
            return
        assert prepared.job is not None
        self._pending[job_id] = _PendingJob(question=question, seen=time.monotonic(), retry=retry)
        if self._watchdog is None or self._watchdog.done():
            # Only while a job is out: a thousand idle shoppers' watchdogs woke the server 2,000 times a second.
            self._watchdog = asyncio.ensure_future(self._watch())
        await self.channel_layer.send(
            settings.ENGINE_CHANNEL,
            {"type": "engine.generate", "job": prepared.job.to_dict(), "reply_group": self.group},
        )

    async def _forward_answer(self, final: dict[str, Any]) -> None:
        """An answer made without the model, to every tab of the conversation: one delta and the final frame."""
        delta = {"type": "delta", "job": final["job"], "answer_to": final["answer_to"], "text": final["text"]}
        for frame in (delta, final):
            await self.channel_layer.group_send(
                self.group, {"type": "conversation.forward", "conversation_id": self.conversation.pk, "frame": frame}
            )

    async def _on_cancel(self) -> None:
        for job_id, job in list(self._pending.items()):
            await self.channel_layer.send(
                job.engine_channel or settings.ENGINE_CHANNEL, {"type": "engine.cancel", "job_id": job_id}
            )

    async def _on_sync(self, content: dict[str, Any]) -> None:
        after = frame_id(content.get("after", 0))
        if after is None:
            await self._error("sync needs `after`: the id of the last message seen (a whole number, 0 for all).")
            return
        found = await database_call(selectors.message_list_after)(conversation=self.conversation, after=after)
        await self.send_json({"type": "sync", "messages": [realtime.message_frame(m) for m in found]})

    async def _on_feedback(self, content: dict[str, Any]) -> None:
        message_id = frame_id(content.get("message_id"))
        value, comment = content.get("value"), content.get("comment") or ""
        if message_id is None or not isinstance(value, str) or not isinstance(comment, str):
            await self._error("Feedback needs a message_id (number), a value and optionally a comment (strings).")
            return
        try:
            message = await database_call(widget.message_feedback_set)(
                conversation=self.conversation, message_id=message_id, value=value, comment=comment
            )
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_feedback")
            return
        await self.send_json({"type": "feedback_saved", "message_id": message.pk, "value": message.feedback})

    async def _on_csat(self, content: dict[str, Any]) -> None:
        score, comment = content.get("score"), content.get("comment") or ""
        if not isinstance(comment, str):
            await self._error("A rating's comment is a string.")
            return
        try:
            csat = await database_call(widget.csat_submit)(conversation=self.conversation, score=score, comment=comment)
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_csat")
            return
        await self.send_json({"type": "csat_saved", "score": csat.score})

    async def _on_handoff(self) -> None:
        try:
            _ticket, reply = await database_call(handoff.conversation_request_human)(conversation=self.conversation)
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_handoff")
            return
        if reply is None:
            # Asked again while already waiting (or with a human): tell this tab where things stand.
            await self._send_status()
            return
        assert reply.job_id is not None
        await self._forward_answer(realtime.final_frame(reply, job_id=reply.job_id, answer_to=None, handoff=True))

    async def _on_close(self) -> None:
        await database_call(self.conversation.refresh_from_db)(fields=["status", "outcome", "closed_at"])
        if self.conversation.status == Conversation.Status.CLOSED:
            await self._send_status()
            return
        try:
            await database_call(widget.conversation_close_by_shopper)(conversation=self.conversation)
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_close")

    async def _send_status(self) -> None:
        await self.send_json(await database_call(_status_frame)(self.conversation))

    async def _on_contact(self, content: dict[str, Any]) -> None:
        value = content.get("value")
        if not isinstance(value, str):
            await self._error("A contact is a string: a phone number, WeChat id or e-mail.", code="invalid_contact")
            return
        try:
            ticket = await database_call(handoff.ticket_contact_set)(conversation=self.conversation, value=value)
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_contact")
            return
        await self.send_json({"type": "contact_saved", "value": ticket.contact})

    async def _error(self, message: str, *, code: str = "bad_frame", client_id: str | None = None) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "client_id": client_id})

    # --- events from the engine and the services (group `conversation.<id>`) ---------------------

    def _touch(self, event: dict[str, Any]) -> _PendingJob | None:
        job = self._pending.get(event["job_id"])
        if job is not None:
            job.seen = time.monotonic()
        return job

    async def conversation_accepted(self, event: dict[str, Any]) -> None:
        job = self._touch(event)
        if job is not None:
            job.engine_channel = event["engine_channel"]

    async def conversation_heartbeat(self, event: dict[str, Any]) -> None:
        self._touch(event)
        if event.get("position"):
            await self.send_json({"type": "queued", "job": event["job_id"], "position": event["position"]})

    async def conversation_delta(self, event: dict[str, Any]) -> None:
        job = self._touch(event)
        if job is not None:
            job.text += event["text"]
        await self.send_json(
            {"type": "delta", "job": event["job_id"], "answer_to": event["question_id"], "text": event["text"]}
        )

    async def conversation_forward(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])

    async def conversation_message(self, event: dict[str, Any]) -> None:
        """A message recorded outside this connection's own stream: an agent's reply, another tab's question."""
        await self.send_json({"type": "message", "message": event["message"]})

    async def conversation_status(self, event: dict[str, Any]) -> None:
        """The conversation changed hands (bot, waiting, human) or closed."""
        if event["status"] in (Conversation.Status.HUMAN, Conversation.Status.CLOSED) and self._pending:
            # A person has the conversation now: the bot must not keep talking over them.
            await self._on_cancel()
        frame = {k: v for k, v in event.items() if k not in ("type", "conversation_id")}
        await self.send_json({"type": "status", **frame})

    async def conversation_final(self, event: dict[str, Any]) -> None:
        self._pending.pop(event["job_id"], None)
        if event.get("frame") is not None:
            await self.send_json(event["frame"])

    async def _watch(self) -> None:
        """A job the engine stopped reporting on is lost (its worker died): never leave the shopper hanging."""
        while self._pending:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for job_id, job in list(self._pending.items()):
                if now - job.seen < settings.ENGINE_STALL_SECONDS:
                    continue
                del self._pending[job_id]
                if not job.text and not job.retry:
                    # Nothing streamed yet: another (or the restarted) worker can still answer it.
                    logger.warning("engine lost job %s before it started; sending it again", job_id)
                    await self._ask_engine(job.question, retry=True)
                    continue
                logger.warning("engine lost job %s; recording the partial answer", job_id)
                await self._record_lost(job_id, job)

    async def _record_lost(self, job_id: str, job: _PendingJob) -> None:
        text = job.text or AnswerStream.FAILED_TEXT
        message = await database_call(messages.message_create_bot)(
            conversation_id=self.conversation.pk,
            job_id=job_id,
            text=text,
            source=Message.Source.LLM if job.text else Message.Source.TEMPLATE,
            partial=True,
            flags=["engine_lost"],
        )
        if not job.text:
            await self.send_json({"type": "delta", "job": job_id, "answer_to": job.question.pk, "text": text})
        await self.send_json(
            realtime.final_frame(message, job_id=job_id, answer_to=job.question.pk, error="engine_lost")
        )
