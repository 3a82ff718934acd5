"""The figures' rules over rows, without a database: one outcome per conversation, outcomes that add up to
exactly 100% over any random history, a period that is the sum of its parts."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.metrics import (
    HANDOFF_REASONS,
    OUTCOME_BUCKETS,
    ConversationRow,
    Ending,
    EventRow,
    MessageRow,
    day_figures,
    episode_ending,
    questions_intercepted,
    shares,
    summarize,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)

ACTIONS = st.sampled_from(
    [
        "ask",
        "faq",
        "llm",
        "template",
        "busy",
        "unsure",
        "guarded",
        "handoff_asked",
        "handoff_unsure",
        "handoff_complaint",
        "claim",
        "agent_reply",
        "hand_back",
        "thumbs_up",
        "thumbs_down",
        "contact",
    ]
)
HISTORY = st.tuples(
    st.lists(ACTIONS, max_size=12),
    st.one_of(st.none(), st.integers(1, 5)),  # rating
    st.booleans(),  # ended
    st.one_of(st.none(), st.integers(0, 14)),  # came back after (days)
)


def build(histories):
    """Rows of conversations played from action lists, one minute per step, each closed by `episode_ending`."""
    conversations, messages, events = [], [], []
    clock = T0
    next_id = 1
    for cid, (actions, rating, ended, back) in enumerate(histories, start=1):
        own_messages, own_events = [], []
        contact = claimed = waiting = False
        for action in actions:
            clock += timedelta(minutes=1)
            next_id += 1

            def bot(source, flags=(), *, pk=next_id, cid=cid, at=clock, into=own_messages, **kw):
                into.append(MessageRow(pk, cid, "bot", at, source=source, flags=flags, **kw))

            if action == "ask":
                own_messages.append(MessageRow(next_id, cid, "customer", clock))
            elif action in ("faq", "llm", "template"):
                bot(action, ttft_ms=100 + next_id, faq_ids=(1,) if action == "faq" else ())
            elif action == "busy":
                bot("template", ("busy",))
            elif action == "unsure":
                bot("handoff", ("unsure",))
            elif action == "guarded":
                bot("guardrail")
            elif action.startswith("handoff_") and not waiting:
                reason = {"asked": "shopper_asked", "unsure": "bot_unsure", "complaint": "complaint"}[action[8:]]
                own_events.append(EventRow(cid, "handoff", clock, reason=reason))
                waiting = True
            elif action == "claim" and waiting and not claimed:
                own_events.append(EventRow(cid, "claim", clock))
                claimed = True
            elif action == "agent_reply" and claimed:
                own_messages.append(MessageRow(next_id, cid, "agent", clock, source="agent"))
            elif action == "hand_back" and claimed:
                own_events.append(EventRow(cid, "hand_back", clock))
                waiting = claimed = False
            elif action.startswith("thumbs_") and own_messages and own_messages[-1].role == "bot":
                last = own_messages.pop()
                own_messages.append(
                    MessageRow(last.id, cid, "bot", last.at, last.source, last.flags, feedback=action[7:])
                )
            elif action == "contact" and waiting:
                contact = True
        closed_at = None
        if ended:
            clock += timedelta(minutes=1)
            ending = episode_ending(messages=own_messages, events=own_events, contact_left=contact)
            own_events.append(EventRow(cid, "close", clock, outcome=ending.outcome, detail=ending.detail))
            closed_at = clock
        came_back = closed_at + timedelta(days=back) if closed_at and back is not None else None
        rated_at = (closed_at or clock) + timedelta(seconds=30) if rating else None
        conversations.append(ConversationRow(cid, csat=rating, csat_at=rated_at, came_back_at=came_back))
        messages += own_messages
        events += own_events
    return conversations, messages, events, clock


@settings(max_examples=300, deadline=None)
@given(st.lists(HISTORY, max_size=12), st.integers(0, 200), st.integers(0, 200))
def test_outcomes_of_any_period_partition_its_ended_conversations_and_add_up_to_100(histories, a, b):
    conversations, messages, events, _ = build(histories)
    start, end = T0 + timedelta(minutes=min(a, b)), T0 + timedelta(minutes=max(a, b) + 1)
    figures = day_figures(conversations=conversations, messages=messages, events=events, start=start, end=end)

    ended = {
        e.conversation_id
        for e in events
        if e.kind == "close"
        and start <= e.at < end
        and any(m.role == "customer" and m.conversation_id == e.conversation_id for m in messages)
    }
    buckets = [figures.outcomes[b] for b in OUTCOME_BUCKETS]
    counted = [cid for bucket in buckets for cid in bucket]
    assert sorted(counted) == sorted(ended)  # each ended conversation in exactly one bucket
    summary = summarize(figures)
    total_share = sum(summary["outcomes"][b]["share"] for b in OUTCOME_BUCKETS)
    assert total_share == (Decimal("100.0") if ended else Decimal("0"))
    # Every handoff is either a handoff outcome or a shopper who left waiting, and nothing else.
    with_handoff = {cid for r in HANDOFF_REASONS for cid in figures.handoffs[r]}
    assert with_handoff == set(figures.outcomes["handed_off"]) | set(figures.outcomes["abandoned_waiting"])
    assert set(figures.intercepted) <= set(figures.questions)


@settings(max_examples=200, deadline=None)
@given(st.lists(HISTORY, max_size=10), st.integers(0, 150))
def test_a_period_is_the_sum_of_its_parts(histories, cut):
    conversations, messages, events, clock = build(histories)
    start, middle, end = T0, T0 + timedelta(minutes=cut), clock + timedelta(days=1)
    whole = day_figures(conversations=conversations, messages=messages, events=events, start=start, end=end)
    first = day_figures(conversations=conversations, messages=messages, events=events, start=start, end=middle)
    second = day_figures(conversations=conversations, messages=messages, events=events, start=middle, end=end)
    added = first.add(second)
    assert summarize(added) == summarize(whole)
    assert {k: sorted(v) for k, v in added.outcomes.items()} == {k: sorted(v) for k, v in whole.outcomes.items()}


def _msg(pk, role, minute, source="", flags=()):
    return MessageRow(pk, 1, role, T0 + timedelta(minutes=minute), source=source, flags=flags)


def test_the_outcome_rules_in_their_order():
    asked = _msg(1, "customer", 0)
    answered = _msg(2, "bot", 1, "faq")
    handoff = EventRow(1, "handoff", T0 + timedelta(minutes=2), reason="shopper_asked")
    claim = EventRow(1, "claim", T0 + timedelta(minutes=3))
    hand_back = EventRow(1, "hand_back", T0 + timedelta(minutes=4))

    assert episode_ending(messages=[asked], events=[], contact_left=False) == Ending("abandoned", "before_answer")
    assert episode_ending(messages=[asked, answered], events=[], contact_left=False) == Ending("bot_resolved", "")
    busy = _msg(2, "bot", 1, "template", ("busy",))
    assert episode_ending(messages=[asked, busy], events=[], contact_left=False) == Ending("abandoned", "before_answer")
    assert episode_ending(messages=[asked, answered], events=[handoff], contact_left=False) == Ending(
        "abandoned", "waiting"
    )
    assert episode_ending(messages=[asked, answered], events=[handoff], contact_left=True) == Ending("handed_off", "")
    # Any handoff wins, whatever happened later (handed back, the bot answered again).
    later = _msg(5, "bot", 5, "llm")
    ending = episode_ending(messages=[asked, later], events=[handoff, claim, hand_back], contact_left=False)
    assert ending == Ending("handed_off", "")


def test_a_question_is_intercepted_only_when_the_bot_answered_it_without_a_person():
    messages = [
        _msg(1, "customer", 0),
        _msg(2, "bot", 1, "faq"),  # intercepted
        _msg(3, "customer", 2),
        _msg(4, "bot", 3, "handoff", ("unsure",)),  # not sure: not intercepted
        _msg(5, "customer", 5),
        _msg(6, "bot", 6, "llm"),  # answered while waiting for a person: not intercepted
        _msg(7, "customer", 8),
        _msg(8, "bot", 9, "template", ("busy",)),  # busy: not intercepted
        _msg(9, "customer", 11),  # answered after the hand-back
        _msg(10, "bot", 12, "llm"),
    ]
    events = [
        EventRow(1, "handoff", T0 + timedelta(minutes=3, seconds=30), reason="bot_unsure"),
        EventRow(1, "claim", T0 + timedelta(minutes=9, seconds=30)),
        EventRow(1, "hand_back", T0 + timedelta(minutes=10)),
    ]
    assert questions_intercepted(messages=messages, events=events) == {1: True, 3: False, 5: False, 7: False, 9: True}


def test_shares_always_add_up_to_exactly_100():
    assert shares([1, 1, 1]) == [Decimal("33.4"), Decimal("33.3"), Decimal("33.3")]
    assert sum(shares([2, 3, 7, 0, 1])) == Decimal("100.0")
    assert shares([0, 0]) == [Decimal("0.0"), Decimal("0.0")]


def test_a_cart_reminder_is_no_answer():
    asked = _msg(1, "customer", 0)
    reminder = _msg(2, "bot", 1, "template", ("reminder",))
    assert episode_ending(messages=[asked, reminder], events=[], contact_left=False) == Ending(
        "abandoned", "before_answer"
    )
    answered = _msg(3, "bot", 2, "llm")
    assert questions_intercepted(messages=[asked, reminder, answered], events=[]) == {1: True}
