"""The shopper's chat websocket: `/ws/chat/<store>/`. The frames are documented in README.md."""

import asyncio
import logging
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from config.exceptions import ApplicationError
from conversations import services
from conversations.models import Conversation, HandoffTicket, Message
from conversations.realtime import (
    agent_display_name,
    conversation_group,
    message_frame,
    store_agents_group,
    ticket_frame,
)
from conversations.selectors import ticket_get_for_agent, ticket_list_for_agent
from engine.consumers import FAILED_TEXT
from engine.embedded import ensure_embedded_worker
from kb.models import Store
from kb.selectors import store_list_for_user

logger = logging.getLogger(__name__)

# Room for a maximal message even with every character JSON-escaped; anything bigger is not a chat.
MAX_FRAME_CHARS = 64 * 1024

_TEXTS = {
    "identity_refused": {
        "zh": "身份校验未通过，已按匿名访客为您服务。",
        "en": "Your sign-in could not be verified; you are chatting as a guest.",
    },
}


def _text(lang: str, key: str) -> str:
    return _TEXTS[key].get(lang, _TEXTS[key]["zh"])


def _open_session(
    store_slug: str, query: dict[str, str], conversation_id: int | None, headers: dict[bytes, bytes]
) -> dict[str, Any]:
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        raise ApplicationError(f"Unknown store {store_slug!r}.")
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not services.store_origin_allowed(store=store, origin=origin, host=headers.get(b"host", b"").decode("latin-1")):
        raise PermissionError(origin)
    session = services.widget_session_open(
        store_slug=store_slug,
        visitor_token=query["visitor"],
        customer_id=query["customer"],
        signature=query["sig"],
        conversation_id=conversation_id,
    )
    store, visitor, conversation = session.store, session.visitor, session.conversation
    history = list(conversation.messages.select_related("agent").order_by("-pk")[:50])
    history.reverse()
    return {
        "conversation": conversation,
        "identity_refused": session.identity_refused,
        "hello": {
            "type": "hello",
            "visitor": visitor.token,
            "verified": session.verified,
            "conversation": conversation.pk,
            "status": conversation.status,
            "rated": hasattr(conversation, "csat"),
            **services.handoff_status_extra(conversation=conversation),
            "store": {
                "slug": store.slug,
                "name": store.name,
                "assistant_name": store.assistant_name,
                "welcome": store.welcome,
                "quick_questions": store.quick_questions,
                "theme": store.theme,
            },
            "messages": [message_frame(m) for m in history],
        },
    }


def _save_question(conversation: Conversation, text: str, client_id: str | None) -> tuple[Message, bool, bool]:
    """The shopper's message, whether it is new, and whether it already has an answer."""
    before = conversation.messages.filter(client_id=client_id).first() if client_id else None
    message = services.message_create_customer(conversation=conversation, text=text, client_id=client_id)
    answered = before is not None and services.question_answered_or_in_flight(question=before)
    return message, before is None, answered


def _messages_after(conversation: Conversation, after: int) -> list[dict[str, Any]]:
    return [message_frame(m) for m in conversation.messages.filter(pk__gt=after).order_by("pk")[:200]]


class _FrameConsumer(AsyncJsonWebsocketConsumer):
    """A JSON websocket that answers an oversized, binary or malformed frame with an error frame and stays open."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self._error("That frame is too large or not text; nothing was saved.")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self._error("That frame is not valid JSON; nothing was saved.")
            return
        await self.receive_json(content)

    async def _error(self, message: str, *, code: str = "bad_frame") -> None:
        raise NotImplementedError


class ChatConsumer(_FrameConsumer):
    conversation: Conversation
    group: str

    async def connect(self) -> None:
        raw_query = parse_qs(self.scope.get("query_string", b"").decode())
        query = {key: (raw_query.get(key) or [""])[0] for key in ("visitor", "customer", "sig", "lang", "conversation")}
        query["visitor"] = query["visitor"][:64]
        self.lang = "en" if query["lang"] == "en" else "zh"
        conversation_id = int(query["conversation"]) if query["conversation"].isdigit() else None
        headers = dict(self.scope.get("headers", []))
        try:
            session = await database_sync_to_async(_open_session)(
                self.scope["url_route"]["kwargs"]["store"], query, conversation_id, headers
            )
        except ApplicationError:
            await self.close(code=4404)
            return
        except PermissionError as exc:
            logger.info("chat refused for origin %r", str(exc))
            await self.close(code=4403)
            return
        self.conversation = session["conversation"]
        self.group = f"conversation.{self.conversation.pk}"
        self._pending: dict[str, dict[str, Any]] = {}
        self._sent: deque[float] = deque()
        await ensure_embedded_worker()
        await self.channel_layer.group_add(self.group, self.channel_name)
        self._watchdog = asyncio.ensure_future(self._watch())
        await self.accept()
        await self.send_json(session["hello"])
        if session["identity_refused"]:
            await self._error(_text(self.lang, "identity_refused"), code="identity_refused")

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self._watchdog.cancel()

    # --- frames from the shopper -----------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self._error("Send a JSON object with a type.")
            return
        kind = content.get("type")
        if kind == "message":
            await self._on_message(content)
        elif kind == "cancel":
            await self._on_cancel()
        elif kind == "sync":
            after = content.get("after")
            after = after if isinstance(after, int) and after >= 0 else 0
            messages = await database_sync_to_async(_messages_after)(self.conversation, after)
            await self.send_json({"type": "sync", "messages": messages})
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
        else:
            await self._error(f"Unknown frame type {kind!r}.")

    async def _on_message(self, content: dict[str, Any]) -> None:
        text, client_id = content.get("text"), content.get("client_id")
        if not isinstance(text, str) or (client_id is not None and not isinstance(client_id, str)):
            await self._error("A message needs a text (and optionally a client_id) as strings.")
            return
        if client_id is not None and not 0 < len(client_id) <= 64:
            await self._error("client_id must be 1 to 64 characters.")
            return
        now = time.monotonic()
        while self._sent and now - self._sent[0] > settings.CHAT_RATE_WINDOW:
            self._sent.popleft()
        if len(self._sent) >= settings.CHAT_RATE_MESSAGES:
            await self._error("您发送得太快了，请稍等几秒再发。", code="rate_limited", client_id=client_id)
            return
        self._sent.append(now)
        try:
            question, created, answered = await database_sync_to_async(_save_question)(
                self.conversation, text, client_id
            )
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_message", client_id=client_id)
            return
        await self.send_json(
            {"type": "ack", "message_id": question.pk, "client_id": client_id, "duplicate": not created}
        )
        if answered or (not created and self._pending):
            return
        await self._ask_engine(question)

    async def _ask_engine(self, question: Message, *, retry: bool = False) -> None:
        job_id = uuid.uuid4().hex
        prepared = await database_sync_to_async(services.answer_prepare)(
            conversation=self.conversation, question=question, job_id=job_id
        )
        if prepared.decision is None:
            return  # a human has this conversation: the bot stays silent
        if prepared.reply is not None:
            await self._send_direct(job_id, question, prepared)
            return
        assert prepared.request is not None
        self._pending[job_id] = {"question": question, "seen": time.monotonic(), "text": "", "retry": retry}
        await self.channel_layer.send(
            settings.ENGINE_CHANNEL,
            {
                "type": "engine.generate",
                "request": prepared.request.to_dict(),
                "reply_group": self.group,
                "meta": prepared.meta,
            },
        )

    async def _send_direct(self, job_id: str, question: Message, prepared: services.PreparedAnswer) -> None:
        """FAQ answers, templates and handoffs: no model, one delta and the final frame."""
        reply = prepared.reply
        assert reply is not None
        frame = {"type": "delta", "job": job_id, "answer_to": question.pk, "text": reply.text}
        await self.channel_layer.group_send(
            self.group, {"type": "conversation.forward", "conversation_id": self.conversation.pk, "frame": frame}
        )
        final = {
            "type": "final",
            "job": job_id,
            "answer_to": question.pk,
            "message_id": reply.pk,
            "text": reply.text,
            "source": reply.source,
            "partial": False,
            "flags": reply.flags,
            "handoff": prepared.ticket is not None,
            "status": "waiting" if prepared.ticket is not None else None,
            "error": "",
            "ttft_ms": reply.ttft_ms,
            "total_ms": reply.total_ms,
        }
        await self.channel_layer.group_send(
            self.group, {"type": "conversation.forward", "conversation_id": self.conversation.pk, "frame": final}
        )

    async def _on_cancel(self) -> None:
        for job_id, job in list(self._pending.items()):
            await self.channel_layer.send(
                job.get("engine_channel") or settings.ENGINE_CHANNEL, {"type": "engine.cancel", "job_id": job_id}
            )

    async def _on_feedback(self, content: dict[str, Any]) -> None:
        message_id, value, comment = content.get("message_id"), content.get("value"), content.get("comment") or ""
        if not isinstance(message_id, int) or not isinstance(value, str) or not isinstance(comment, str):
            await self._error("Feedback needs a message_id (number), a value and optionally a comment (strings).")
            return
        try:
            message = await database_sync_to_async(services.message_feedback_set)(
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
            csat = await database_sync_to_async(services.csat_submit)(
                conversation=self.conversation, score=score, comment=comment
            )
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_csat")
            return
        await self.send_json({"type": "csat_saved", "score": csat.score})

    async def _on_handoff(self) -> None:
        try:
            _ticket, reply = await database_sync_to_async(services.conversation_request_human)(
                conversation=self.conversation
            )
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_handoff")
            return
        if reply is None:
            # Asked again while already waiting (or with a human): tell this tab where things stand.
            await self._send_status()
            return
        if reply is not None:
            job_id = (reply.client_id or "job:")[4:]
            for frame in (
                {"type": "delta", "job": job_id, "answer_to": None, "text": reply.text},
                {
                    "type": "final",
                    "job": job_id,
                    "answer_to": None,
                    "message_id": reply.pk,
                    "text": reply.text,
                    "source": reply.source,
                    "partial": False,
                    "flags": reply.flags,
                    "handoff": True,
                    "status": "waiting",
                    "error": "",
                    "ttft_ms": None,
                    "total_ms": None,
                },
            ):
                await self.channel_layer.group_send(
                    self.group,
                    {"type": "conversation.forward", "conversation_id": self.conversation.pk, "frame": frame},
                )

    async def _on_close(self) -> None:
        await database_sync_to_async(self.conversation.refresh_from_db)(fields=["status", "outcome", "closed_at"])
        if self.conversation.status == Conversation.Status.CLOSED:
            await self._send_status()
            return
        try:
            await database_sync_to_async(services.conversation_close_by_shopper)(conversation=self.conversation)
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_close")

    async def _send_status(self) -> None:
        def read() -> dict[str, Any]:
            self.conversation.refresh_from_db(fields=["status", "outcome", "closed_at"])
            extra = services.handoff_status_extra(conversation=self.conversation)
            return {"type": "status", "status": self.conversation.status, **extra}

        await self.send_json(await database_sync_to_async(read)())

    async def _on_contact(self, content: dict[str, Any]) -> None:
        value = content.get("value")
        if not isinstance(value, str):
            await self._error("A contact is a string: a phone number, WeChat id or e-mail.", code="invalid_contact")
            return
        try:
            ticket = await database_sync_to_async(services.ticket_contact_set)(
                conversation=self.conversation, value=value
            )
        except ApplicationError as exc:
            await self._error(exc.message, code="invalid_contact")
            return
        await self.send_json({"type": "contact_saved", "value": ticket.contact})

    async def _error(self, message: str, *, code: str = "bad_frame", client_id: str | None = None) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, "client_id": client_id})

    # --- events from the engine (group `conversation.<id>`) --------------------------------------

    def _touch(self, event: dict[str, Any]) -> dict[str, Any] | None:
        job = self._pending.get(event["job_id"])
        if job is not None:
            job["seen"] = time.monotonic()
        return job

    async def conversation_accepted(self, event: dict[str, Any]) -> None:
        job = self._touch(event)
        if job is not None:
            job["engine_channel"] = event["engine_channel"]

    async def conversation_heartbeat(self, event: dict[str, Any]) -> None:
        self._touch(event)
        if event.get("position"):
            await self.send_json({"type": "queued", "job": event["job_id"], "position": event["position"]})

    async def conversation_delta(self, event: dict[str, Any]) -> None:
        job = self._touch(event)
        if job is not None:
            job["text"] += event["text"]
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
        frame = {k: v for k, v in event.items() if k not in ("type", "job_id", "question_id", "conversation_id")}
        await self.send_json({"type": "final", "job": event["job_id"], "answer_to": event["question_id"], **frame})

    async def _watch(self) -> None:
        """A job the engine stopped reporting on is lost (its worker died): never leave the shopper hanging."""
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for job_id, job in list(self._pending.items()):
                if now - job["seen"] < settings.ENGINE_STALL_SECONDS:
                    continue
                del self._pending[job_id]
                if not job["text"] and not job["retry"]:
                    # Nothing streamed yet: another (or the restarted) worker can still answer it.
                    logger.warning("engine lost job %s before it started; sending it again", job_id)
                    await self._ask_engine(job["question"], retry=True)
                    continue
                logger.warning("engine lost job %s; recording the partial answer", job_id)
                await self._record_lost(job_id, job)

    async def _record_lost(self, job_id: str, job: dict[str, Any]) -> None:
        partial_text = job["text"]
        text = partial_text or FAILED_TEXT
        message = await database_sync_to_async(services.message_record_answer)(
            conversation_id=self.conversation.pk,
            job_id=job_id,
            text=text,
            source="llm" if partial_text else "template",
            partial=True,
            flags=["engine_lost"],
        )
        if not partial_text:
            await self.send_json({"type": "delta", "job": job_id, "answer_to": job["question"].pk, "text": text})
        await self.send_json(
            {
                "type": "final",
                "job": job_id,
                "answer_to": job["question"].pk,
                "message_id": message.pk,
                "text": message.text,
                "source": message.source,
                "partial": True,
                "flags": message.flags,
                "error": "engine_lost",
                "ttft_ms": None,
                "total_ms": None,
            }
        )


# --- the agent console's websocket: /ws/agent/ ---------------------------------------------------------

AGENT_PRESENCE_REFRESH_SECONDS = 20
# How often an open console re-reads its agent's access (deactivated, removed from a store, a new store).
AGENT_ACCESS_REFRESH_SECONDS = 5.0


def _agent_access(user: Any) -> set[int]:
    """The ids of the stores the agent works for now; empty when they may not use the console at all."""
    user.refresh_from_db(fields=["is_active", "is_superuser"])
    if not user.is_active:
        return set()
    return set(store_list_for_user(user=user).values_list("pk", flat=True))


def _agent_hello(user: Any) -> dict[str, Any]:
    stores = list(store_list_for_user(user=user))
    tickets = list(ticket_list_for_agent(user=user)[:200])
    return {
        "watch": {ticket.conversation_id: ticket.conversation.store_id for ticket in tickets},
        "hello": {
            "type": "hello",
            "agent": {"id": user.pk, "username": user.get_username(), "name": agent_display_name(user)},
            "stores": [{"slug": store.slug, "name": store.name} for store in stores],
            "tickets": [ticket_frame(ticket) for ticket in tickets],
        },
    }


def _agent_ticket(user: Any, ticket_id: int) -> tuple[dict[str, Any], int] | None:
    ticket = ticket_get_for_agent(user=user, ticket_id=ticket_id)
    return (ticket_frame(ticket), ticket.conversation.store_id) if ticket is not None else None


def _agent_message(user: Any, message_id: int) -> dict[str, Any] | None:
    message = (
        Message.objects.filter(pk=message_id, conversation__store__in=store_list_for_user(user=user))
        .select_related("agent")
        .first()
    )
    if message is None:
        return None
    return {**message_frame(message), "agent": message.agent.get_username() if message.agent else None}


_away_tasks: set[asyncio.Future[None]] = set()


async def _agent_away_later(user_id: int) -> None:
    """After the grace period (a reload is not leaving), hand an absent agent's chats back to the queue."""
    await asyncio.sleep(settings.CHAT_AGENT_AWAY_SECONDS)
    try:
        await database_sync_to_async(services.agent_away)(user_id=user_id)
    except Exception:
        logger.exception("could not release the conversations of agent %s", user_id)


class AgentConsumer(_FrameConsumer):
    """A store agent's console: tickets of their stores live, claim, reply, hand back, close, suggestions.

    Only the agent's own stores' tickets and conversations ever reach this socket: it joins the groups
    of the stores the agent works for now (re-read every few seconds and before every action), and every
    event of a conversation is checked against those stores before it is forwarded.
    """

    user: Any

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=4401)
            return
        store_ids = await database_sync_to_async(_agent_access)(self.user)
        if not store_ids:
            await self.close(code=4403)
            return
        self.store_ids: set[int] = set()
        self.watching: dict[int, int] = {}  # conversation id -> its store id
        self.drafts: dict[str, int] = {}  # job id -> conversation id
        self.draft_group = f"agent-drafts.{uuid.uuid4().hex}"
        self._access_at = time.monotonic()
        # Groups first, then the state: nothing created in between is missed.
        await self._join_stores(store_ids)
        await self.channel_layer.group_add(self.draft_group, self.channel_name)
        session = await database_sync_to_async(_agent_hello)(self.user)
        for conversation_id, store_id in session["watch"].items():
            await self._watch_conversation(conversation_id, store_id)
        await database_sync_to_async(services.agent_presence_enter)(user=self.user, channel_name=self.channel_name)
        await ensure_embedded_worker()
        self._presence = asyncio.ensure_future(self._refresh_presence())
        await self.accept()
        await self.send_json(session["hello"])

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "store_ids"):
            return
        self._presence.cancel()
        groups = [*(store_agents_group(s) for s in self.store_ids), self.draft_group]
        for group in [*groups, *(conversation_group(c) for c in self.watching)]:
            await self.channel_layer.group_discard(group, self.channel_name)
        for job_id in list(self.drafts):
            await self.channel_layer.send(settings.ENGINE_CHANNEL, {"type": "engine.cancel", "job_id": job_id})
        await database_sync_to_async(services.agent_presence_leave)(channel_name=self.channel_name)
        task = asyncio.ensure_future(_agent_away_later(self.user.pk))
        _away_tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_away_tasks.discard)

    async def _refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(AGENT_PRESENCE_REFRESH_SECONDS)
            await database_sync_to_async(services.agent_presence_touch)(channel_name=self.channel_name)

    async def _join_stores(self, store_ids: set[int]) -> None:
        for store_id in self.store_ids - store_ids:
            await self.channel_layer.group_discard(store_agents_group(store_id), self.channel_name)
        for store_id in store_ids - self.store_ids:
            await self.channel_layer.group_add(store_agents_group(store_id), self.channel_name)
        self.store_ids = set(store_ids)
        for conversation_id, store_id in list(self.watching.items()):
            if store_id not in self.store_ids:
                await self._unwatch_conversation(conversation_id)

    async def _has_access(self, *, now: bool = False) -> bool:
        """Re-read the agent's stores (always before an action, every few seconds for events); close when none."""
        if not now and time.monotonic() - self._access_at < AGENT_ACCESS_REFRESH_SECONDS:
            return bool(self.store_ids)
        store_ids = await database_sync_to_async(_agent_access)(self.user)
        self._access_at = time.monotonic()
        await self._join_stores(store_ids)
        if not store_ids:
            await self.close(code=4403)
            return False
        return True

    async def _may_see(self, conversation_id: Any, *, fresh: bool = True) -> bool:
        """Whether an event of this conversation may reach the agent; `fresh=False` (the bot's typing,
        many events a second) trusts access read in the last few seconds."""
        if not await self._has_access(now=fresh):
            return False
        return self.watching.get(conversation_id) in self.store_ids

    async def _watch_conversation(self, conversation_id: int, store_id: int) -> None:
        if conversation_id not in self.watching:
            await self.channel_layer.group_add(conversation_group(conversation_id), self.channel_name)
        self.watching[conversation_id] = store_id

    async def _unwatch_conversation(self, conversation_id: int) -> None:
        if self.watching.pop(conversation_id, None) is not None:
            await self.channel_layer.group_discard(conversation_group(conversation_id), self.channel_name)

    # --- frames from the agent -------------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self._error("Send a JSON object with a type.")
            return
        kind = content.get("type")
        conversation = content.get("conversation")
        if kind != "ping" and not await self._has_access(now=True):
            return
        try:
            if kind == "claim":
                ticket = await database_sync_to_async(services.ticket_claim)(
                    ticket_id=content.get("ticket"), agent=self.user
                )
                await self._ack("claim", ticket.conversation_id)
            elif kind == "reply":
                message = await database_sync_to_async(services.message_create_agent)(
                    conversation_id=conversation,
                    agent=self.user,
                    text=content.get("text"),
                    client_id=content.get("client_id"),
                )
                await self._ack("reply", conversation, client_id=content.get("client_id"), message_id=message.pk)
            elif kind == "release":
                await database_sync_to_async(services.conversation_hand_back)(
                    conversation_id=conversation, agent=self.user
                )
                await self._ack("release", conversation)
            elif kind == "close":
                await database_sync_to_async(services.conversation_close_by_agent)(
                    conversation_id=conversation, agent=self.user
                )
                await self._ack("close", conversation)
            elif kind == "suggest":
                await self._suggest(conversation)
            elif kind == "ping":
                await self.send_json({"type": "pong"})
            else:
                await self._error(f"Unknown frame type {kind!r}.")
        except ApplicationError as exc:
            client_id = content.get("client_id") if isinstance(content.get("client_id"), str) else None
            await self._error(
                exc.message,
                code=f"invalid_{kind}" if isinstance(kind, str) else "bad_frame",
                client_id=client_id,
                conversation=conversation if isinstance(conversation, int) else None,
            )

    async def _suggest(self, conversation_id: Any) -> None:
        job_id = uuid.uuid4().hex
        suggestions = await database_sync_to_async(services.reply_suggestions)(
            conversation_id=conversation_id, agent=self.user, job_id=job_id
        )
        await self.send_json(
            {
                "type": "suggestions",
                "conversation": suggestions.conversation_id,
                "items": suggestions.items,
                "request": job_id,
            }
        )
        if suggestions.draft is None:
            return
        self.drafts[job_id] = suggestions.conversation_id
        await self.channel_layer.send(
            settings.ENGINE_CHANNEL,
            {
                "type": "engine.generate",
                "request": suggestions.draft.to_dict(),
                "reply_group": self.draft_group,
                "meta": suggestions.meta,
            },
        )

    async def _ack(
        self, action: str, conversation: Any, *, client_id: Any = None, message_id: int | None = None
    ) -> None:
        await self.send_json(
            {
                "type": "ack",
                "action": action,
                "conversation": conversation,
                "client_id": client_id if isinstance(client_id, str) else None,
                "message_id": message_id,
            }
        )

    async def _error(
        self, message: str, *, code: str = "bad_frame", client_id: str | None = None, conversation: int | None = None
    ) -> None:
        await self.send_json(
            {"type": "error", "code": code, "message": message, "conversation": conversation, "client_id": client_id}
        )

    # --- events: tickets of the agent's stores, and the conversations they watch --------------------

    async def agents_ticket(self, event: dict[str, Any]) -> None:
        if not await self._has_access(now=True):
            return
        found = await database_sync_to_async(_agent_ticket)(self.user, int(event["ticket_id"]))
        if found is None:
            return  # not (or no longer) one of this agent's stores
        ticket, store_id = found
        if ticket["status"] == HandoffTicket.Status.RESOLVED:
            await self._unwatch_conversation(ticket["conversation"])
        else:
            await self._watch_conversation(ticket["conversation"], store_id)
        await self.send_json({"type": "ticket", "ticket": ticket})

    async def conversation_message(self, event: dict[str, Any]) -> None:
        if not await self._may_see(event["conversation_id"]):
            return
        await self.send_json(
            {
                "type": "message",
                "conversation": event["conversation_id"],
                "message": {**event["message"], "agent": event.get("agent")},
            }
        )

    async def conversation_status(self, event: dict[str, Any]) -> None:
        if not await self._may_see(event["conversation_id"]):
            return
        await self.send_json({"type": "status", "conversation": event["conversation_id"], "status": event["status"]})

    async def conversation_delta(self, event: dict[str, Any]) -> None:
        conversation = self.drafts.get(event["job_id"])
        if conversation is not None:
            await self.send_json(
                {"type": "draft_delta", "conversation": conversation, "request": event["job_id"], "text": event["text"]}
            )
            return
        if not await self._may_see(event.get("conversation_id"), fresh=False):
            return
        await self.send_json(
            {"type": "delta", "conversation": event["conversation_id"], "job": event["job_id"], "text": event["text"]}
        )

    async def conversation_final(self, event: dict[str, Any]) -> None:
        conversation = self.drafts.pop(event["job_id"], None)
        if conversation is not None:
            error = str(event.get("error") or "")
            text = "" if error == "busy" else str(event.get("text") or "")
            await self.send_json(
                {
                    "type": "draft",
                    "conversation": conversation,
                    "request": event["job_id"],
                    "text": text,
                    "error": error,
                }
            )
            return
        await self._send_recorded(event.get("conversation_id"), event.get("message_id"))

    async def conversation_forward(self, event: dict[str, Any]) -> None:
        """The widget's own frames for answers without the model: the console needs only the recorded reply."""
        frame = event["frame"]
        if frame.get("type") == "final":
            await self._send_recorded(event.get("conversation_id"), frame.get("message_id"))

    async def _send_recorded(self, conversation_id: Any, message_id: Any) -> None:
        if not isinstance(message_id, int) or not await self._may_see(conversation_id):
            return
        message = await database_sync_to_async(_agent_message)(self.user, message_id)
        if message is not None:
            await self.send_json({"type": "message", "conversation": conversation_id, "message": message})

    async def conversation_accepted(self, event: dict[str, Any]) -> None:
        pass

    async def conversation_heartbeat(self, event: dict[str, Any]) -> None:
        pass
