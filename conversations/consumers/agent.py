"""The agent console's websocket: `/ws/agent/`. The frames are documented in README.md."""

import asyncio
import logging
import time
import uuid
from dataclasses import asdict
from typing import Any

from django.conf import settings

from config.exceptions import ApplicationError
from conversations import realtime, selectors
from conversations.consumers.frames import FrameConsumer, database_call
from conversations.engine_bridge import engine_application
from conversations.models import HandoffTicket
from conversations.services import agents
from engine.embedded import ensure_embedded_worker
from kb.selectors import store_list_for_user

logger = logging.getLogger(__name__)


def _agent_access(user: Any) -> set[int]:
    """The ids of the stores the agent works for now; empty when they may not use the console at all."""
    user.refresh_from_db(fields=["is_active", "is_superuser"])
    if not user.is_active:
        return set()
    return set(store_list_for_user(user=user).values_list("pk", flat=True))


def _agent_hello(user: Any) -> dict[str, Any]:
    stores = list(store_list_for_user(user=user))
    tickets = list(selectors.ticket_list_for_agent(user=user)[:200])
    return {
        "watch": {ticket.conversation_id: ticket.conversation.store_id for ticket in tickets},
        "hello": {
            "type": "hello",
            "agent": {"id": user.pk, "username": user.get_username(), "name": realtime.agent_display_name(user)},
            "stores": [{"slug": store.slug, "name": store.name} for store in stores],
            "tickets": [realtime.ticket_frame(ticket) for ticket in tickets],
            # The database's numbers: more tickets may be open than the hello carries.
            "counts": selectors.ticket_counts_for_agent(user=user),
        },
    }


def _agent_ticket(user: Any, ticket_id: int) -> tuple[dict[str, Any], int] | None:
    ticket = selectors.ticket_get_for_agent(user=user, ticket_id=ticket_id)
    return (realtime.ticket_frame(ticket), ticket.conversation.store_id) if ticket is not None else None


def _agent_message(user: Any, message_id: int) -> dict[str, Any] | None:
    message = selectors.message_get_for_agent(user=user, message_id=message_id)
    return realtime.agent_message_frame(message) if message is not None else None


_away_tasks: set[asyncio.Future[None]] = set()


async def _agent_away_later(user_id: int) -> None:
    """After the grace period (a reload is not leaving), hand an absent agent's chats back to the queue."""
    await asyncio.sleep(settings.CHAT_AGENT_AWAY_SECONDS)
    try:
        await database_call(agents.agent_away)(user_id=user_id)
    except Exception:
        logger.exception("could not release the conversations of agent %s", user_id)


class AgentConsumer(FrameConsumer):
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
        store_ids = await database_call(_agent_access)(self.user)
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
        session = await database_call(_agent_hello)(self.user)
        for conversation_id, store_id in session["watch"].items():
            await self._watch_conversation(conversation_id, store_id)
        await database_call(agents.agent_presence_enter)(user=self.user, channel_name=self.channel_name)
        await ensure_embedded_worker(engine_application)
        self._presence = asyncio.ensure_future(self._refresh_presence())
        await self.accept()
        await self.send_json(session["hello"])

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "store_ids"):
            return
        self._presence.cancel()
        groups = [*(realtime.store_agents_group(s) for s in self.store_ids), self.draft_group]
        for group in [*groups, *(realtime.conversation_group(c) for c in self.watching)]:
            await self.channel_layer.group_discard(group, self.channel_name)
        for job_id in list(self.drafts):
            await self.channel_layer.send(settings.ENGINE_CHANNEL, {"type": "engine.cancel", "job_id": job_id})
        await database_call(agents.agent_presence_leave)(channel_name=self.channel_name)
        task = asyncio.ensure_future(_agent_away_later(self.user.pk))
        _away_tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_away_tasks.discard)

    async def _refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(settings.CHAT_AGENT_PRESENCE_REFRESH_SECONDS)
            await database_call(agents.agent_presence_touch)(channel_name=self.channel_name)

    async def _join_stores(self, store_ids: set[int]) -> None:
        for store_id in self.store_ids - store_ids:
            await self.channel_layer.group_discard(realtime.store_agents_group(store_id), self.channel_name)
        for store_id in store_ids - self.store_ids:
            await self.channel_layer.group_add(realtime.store_agents_group(store_id), self.channel_name)
        self.store_ids = set(store_ids)
        for conversation_id, store_id in list(self.watching.items()):
            if store_id not in self.store_ids:
                await self._unwatch_conversation(conversation_id)

    async def _has_access(self, *, now: bool = False) -> bool:
        """Re-read the agent's stores (always before an action, every few seconds for events); close when none."""
        if not now and time.monotonic() - self._access_at < settings.CHAT_AGENT_ACCESS_REFRESH_SECONDS:
            return bool(self.store_ids)
        store_ids = await database_call(_agent_access)(self.user)
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
            await self.channel_layer.group_add(realtime.conversation_group(conversation_id), self.channel_name)
        self.watching[conversation_id] = store_id

    async def _unwatch_conversation(self, conversation_id: int) -> None:
        if self.watching.pop(conversation_id, None) is not None:
            await self.channel_layer.group_discard(realtime.conversation_group(conversation_id), self.channel_name)

    # --- frames from the agent -------------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type")
        conversation = content.get("conversation")
        if kind != "ping" and not await self._has_access(now=True):
            return
        try:
            if kind == "claim":
                ticket = await database_call(agents.ticket_claim)(ticket_id=content.get("ticket"), agent=self.user)
                await self._ack("claim", ticket.conversation_id)
            elif kind == "reply":
                message = await database_call(agents.message_create_agent)(
                    conversation_id=conversation,
                    agent=self.user,
                    text=content.get("text"),
                    client_id=content.get("client_id"),
                )
                await self._ack("reply", conversation, client_id=content.get("client_id"), message_id=message.pk)
            elif kind == "release":
                await database_call(agents.conversation_hand_back)(conversation_id=conversation, agent=self.user)
                await self._ack("release", conversation)
            elif kind == "close":
                await database_call(agents.conversation_close_by_agent)(conversation_id=conversation, agent=self.user)
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
        suggestions = await database_call(agents.reply_suggestions)(
            conversation_id=conversation_id, agent=self.user, job_id=job_id
        )
        await self.send_json(
            {
                "type": "suggestions",
                "conversation": suggestions.conversation_id,
                "items": [asdict(item) for item in suggestions.items],
                "request": job_id,
            }
        )
        if suggestions.draft is None:
            return
        self.drafts[job_id] = suggestions.conversation_id
        await self.channel_layer.send(
            settings.ENGINE_CHANNEL,
            {"type": "engine.generate", "job": suggestions.draft.to_dict(), "reply_group": self.draft_group},
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
        found = await database_call(_agent_ticket)(self.user, int(event["ticket_id"]))
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
            draft = event.get("draft") or {}
            await self.send_json(
                {
                    "type": "draft",
                    "conversation": conversation,
                    "request": event["job_id"],
                    "text": str(draft.get("text") or ""),
                    "error": str(draft.get("error") or ""),
                }
            )
            return
        frame = event.get("frame") or {}
        await self._send_recorded(event.get("conversation_id"), frame.get("message_id"))

    async def conversation_forward(self, event: dict[str, Any]) -> None:
        """The widget's own frames for answers without the model: the console needs only the recorded reply."""
        frame = event["frame"]
        if frame.get("type") == "final":
            await self._send_recorded(event.get("conversation_id"), frame.get("message_id"))

    async def _send_recorded(self, conversation_id: Any, message_id: Any) -> None:
        if not isinstance(message_id, int) or not await self._may_see(conversation_id):
            return
        message = await database_call(_agent_message)(self.user, message_id)
        if message is not None:
            await self.send_json({"type": "message", "conversation": conversation_id, "message": message})

    async def conversation_accepted(self, event: dict[str, Any]) -> None:
        pass

    async def conversation_heartbeat(self, event: dict[str, Any]) -> None:
        pass
