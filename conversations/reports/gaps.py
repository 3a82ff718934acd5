"""The FAQ gap loop: the questions the bot could not answer, grouped by likeness, each group ready to become
an FAQ entry (its question, the other phrasings, and what a person replied, if one did)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from conversations.metrics import MessageRow
from conversations.models import Message
from conversations.selectors import MESSAGE_ROW_FIELDS, message_row
from engine.retrieve import tokenize
from kb.models import Store

# Two questions are alike when they share at least this share of their words (Jaccard): 0.5 keeps
# "能开发票吗"/"可以开发票吗" together and an invoice question apart from a returns question.
ALIKE = 0.5
MAX_EXAMPLES = 8
# What marks a reply as "could not answer": the pipeline's or the guard's "not sure".
UNSURE_FLAGS = frozenset({"unsure", "echo"})


@dataclass(frozen=True)
class Unanswered:
    message_id: int
    conversation_id: int
    text: str
    why: str  # unsure | thumbs_down
    agent_reply: str = ""


@dataclass
class GapGroup:
    question: str
    items: list[Unanswered] = field(default_factory=list)
    words: set[str] = field(default_factory=set)

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def examples(self) -> list[str]:
        return list(dict.fromkeys(i.text for i in self.items))[:MAX_EXAMPLES]

    @property
    def agent_reply(self) -> str:
        return next((i.agent_reply for i in self.items if i.agent_reply), "")

    def faq_add_query(self, store: Store) -> str:
        """The FAQ entry form's query string, filled from this group (the admin takes GET values as initial)."""
        others = [text for text in self.examples if text != self.question]
        return urlencode(
            {
                "store": store.pk,
                "question": self.question,
                "alt_questions": "\n".join(others),
                "answer": self.agent_reply,
            }
        )


def unanswered_in(messages: Sequence[MessageRow]) -> list[Unanswered]:
    """A conversation's questions the bot could not answer: its first reply said it was not sure, or the
    shopper gave that reply a thumbs down; with the first reply of a person after it, if any."""
    ordered = sorted(messages, key=lambda m: (m.at, m.id))
    found = []
    for index, question in enumerate(ordered):
        if question.role != "customer":
            continue
        after = ordered[index + 1 :]
        upto = next((j for j, m in enumerate(after) if m.role == "customer"), len(after))
        reply = next((m for m in after[:upto] if m.role == "bot"), None)
        if reply is None:
            continue
        why = "unsure" if UNSURE_FLAGS.intersection(reply.flags) else "thumbs_down" if reply.feedback == "down" else ""
        if not why:
            continue
        person = next((m for m in after if m.role == "agent"), None)
        found.append(
            Unanswered(question.id, question.conversation_id, question.text, why, person.text if person else "")
        )
    return found


def group_alike(items: Sequence[Unanswered]) -> list[GapGroup]:
    """Greedy grouping: each question joins the first group whose words it shares enough of; biggest first."""
    groups: list[GapGroup] = []
    for item in items:
        words = set(tokenize(item.text)) or {item.text}
        best = None
        for group in groups:
            overlap = len(words & group.words) / len(words | group.words)
            if overlap >= ALIKE:
                best = group
                break
        if best is None:
            best = GapGroup(question=item.text, words=set(words))
            groups.append(best)
        best.items.append(item)
    for group in groups:
        # The group's question: the phrasing asked most often (the shortest of those).
        texts = [i.text for i in group.items]
        group.question = min(dict.fromkeys(texts), key=lambda t: (-texts.count(t), len(t)))
    groups.sort(key=lambda g: (-g.count, g.question))
    return groups


def faq_gaps(*, store: Store, start: datetime, end: datetime) -> list[GapGroup]:
    """This store's unanswered questions asked in [start, end), grouped."""
    asked = Message.objects.filter(
        conversation__store=store, role=Message.Role.CUSTOMER, created_at__gte=start, created_at__lt=end
    )
    conversation_ids = list(asked.values_list("conversation_id", flat=True).distinct())
    rows = [
        message_row(v, text=t)
        for *v, t in Message.objects.filter(conversation_id__in=conversation_ids, conversation__store=store)
        .order_by("created_at", "id")
        .values_list(*MESSAGE_ROW_FIELDS, "text")
    ]
    by_conversation: dict[int, list[MessageRow]] = {}
    for row in rows:
        by_conversation.setdefault(row.conversation_id, []).append(row)
    items = [
        item
        for messages in by_conversation.values()
        for item in unanswered_in(messages)
        if start <= next(m.at for m in messages if m.id == item.message_id) < end
    ]
    return group_alike(items)
