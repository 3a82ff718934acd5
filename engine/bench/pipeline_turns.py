"""What shoppers really get from the model: turns built by the real pipeline, timed to the first visible word.

`generation.run_workload` measures the engine on bare questions. A real model answer carries what
`decide()` puts in front of it (the retrieved reference snippets, the conversation's earlier turns) and is
shown only through the guard, which may hold a clause back. This workload builds its turns exactly as the
chat does - `decide()` over a store's real data, history as `conversation_history` repeats it - from every
store file given, keeps the questions that go to the model, and times each answer to its first visible
(guarded) text, first turns and follow-ups apart.

The questions are generic shop questions, not tuned to any store; a question a store answers without the
model (an FAQ entry, a product row) is simply not part of that store's workload. The evaluation's questions
(`tests/eval/questions.jsonl`) are a second workload, asked as `eval_answers` asks them - a new chat on the
question's product page, its earlier messages first - and timed only where the model answers the question
itself, so the two tools' figures measure the same turns.
"""

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.bench import pct
from engine.evaluation.questions import EvalQuestion
from engine.focus import ChatContext
from engine.generate import GenerationEvent, GenerationRequest, warm_request
from engine.guard import StreamGuard
from engine.knowledge import StoreSnapshot, snapshot_from_file
from engine.openings import opening_request, opening_turns
from engine.pipeline import decide
from engine.prompt import Turn, build_messages, store_prefix

# First questions of a chat, in any kind of store: the ones the store's data answers only in part go to the model.
FIRST_QUESTIONS = (
    "收到的东西有破损怎么办？",
    "寄到新疆要几天能收到？",
    "东西洗了会变形吗？要怎么保养？",
    "周末下单的话什么时候能发出？",
    "买来送人的，可以帮忙写贺卡吗？",
    "可以开发票吗？公司抬头的那种",
    "这个适合送长辈吗？",
    "退货的运费谁出？",
    "能不能先发货后付款？",
    "你们家的东西是正品吗？有没有质检报告？",
)
# A follow-up in the same chat, after the first answer.
FOLLOW_UPS = ("那大概几天能到？", "要是不满意能退吗？", "还有别的需要注意的吗？", "好的，那运费多少？")


@dataclass(frozen=True)
class Chat:
    store: StoreSnapshot
    first: str  # the first question (goes to the model)
    follow_up: str


CONTEXT_TEXTS = 6  # as `conversations.selectors.CONTEXT_TEXTS`: the recent texts a question may lean on
HISTORY_TURNS = 6  # as settings.CHAT_HISTORY_TURNS: the exchanges the model sees


@dataclass(frozen=True)
class Asked:
    """A question of the evaluation's set: a new chat on its product's page, its earlier messages asked first."""

    store: StoreSnapshot
    question: str
    product: str = ""
    earlier: tuple[str, ...] = ()


@dataclass
class PipelineReport:
    name: str
    first_visible: list[float] = field(default_factory=list)  # seconds to the first guarded text, first turns
    follow_visible: list[float] = field(default_factory=list)
    first_prompt_tokens: list[int] = field(default_factory=list)
    evaluated_first: list[int] = field(default_factory=list)
    evaluated_follow: list[int] = field(default_factory=list)
    asked_visible: list[float] = field(default_factory=list)  # the evaluation's questions the model answers
    evaluated_asked: list[int] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        both = [*self.first_visible, *self.follow_visible]
        return {
            "evaluation_questions": len(self.asked_visible),
            "evaluation_visible_p50_s": pct(self.asked_visible, 50),
            "evaluation_visible_p95_s": pct(self.asked_visible, 95),
            "evaluation_evaluated_tokens_p50": pct([float(n) for n in self.evaluated_asked], 50),
            "chats": len(self.first_visible),
            "first_turn_visible_p50_s": pct(self.first_visible, 50),
            "first_turn_visible_p95_s": pct(self.first_visible, 95),
            "follow_up_visible_p50_s": pct(self.follow_visible, 50),
            "follow_up_visible_p95_s": pct(self.follow_visible, 95),
            "all_visible_p50_s": pct(both, 50),
            "all_visible_p95_s": pct(both, 95),
            "first_turn_prompt_tokens_p50": pct([float(n) for n in self.first_prompt_tokens], 50),
            "first_turn_evaluated_tokens_p50": pct([float(n) for n in self.evaluated_first], 50),
            "follow_up_evaluated_tokens_p50": pct([float(n) for n in self.evaluated_follow], 50),
        }


def load_stores(files: dict[str, Path], *, prefix_entry_chars: int) -> dict[str, StoreSnapshot]:
    """The stores' snapshots by name, from their knowledge-base files."""
    return {
        name: dataclasses.replace(
            snapshot_from_file(json.loads(path.read_text(encoding="utf-8"))), prefix_entry_chars=prefix_entry_chars
        )
        for name, path in files.items()
    }


def pipeline_chats(stores: Sequence[StoreSnapshot]) -> list[Chat]:
    """The chats of the workload: per store, each first question `decide()` sends to the model."""
    chats = []
    for store in stores:
        for i, question in enumerate(FIRST_QUESTIONS):
            if decide(store=store, question=question).kind == "generate":
                chats.append(Chat(store=store, first=question, follow_up=FOLLOW_UPS[i % len(FOLLOW_UPS)]))
    return chats


def evaluation_chats(stores: dict[str, StoreSnapshot], questions: Sequence[EvalQuestion]) -> list[Asked]:
    """The evaluation's questions on the stores given (by the name the question file uses)."""
    return [Asked(stores[q.store], q.question, q.product, q.history) for q in questions if q.store in stores]


Submit = Callable[[GenerationRequest, Callable[[GenerationEvent], None]], object]


def _visible(submit: Submit, request: GenerationRequest, guard: StreamGuard) -> tuple[float, str, int, int]:
    """Run one request; (seconds to the first guarded text, the text shown, prompt tokens, evaluated tokens)."""
    done = threading.Event()
    shown: list[str] = []
    first: list[float] = []
    stats: dict[str, int] = {}
    started = time.perf_counter()

    def sink(ev: GenerationEvent) -> None:
        if ev.kind == "delta":
            safe = guard.feed(ev.text)
            if safe:
                shown.append(safe)
                if not first:
                    first.append(time.perf_counter() - started)
        elif ev.kind == "done":
            tail = guard.finish()
            if tail:
                shown.append(tail)
                if not first:
                    first.append(time.perf_counter() - started)
            stats["prompt"] = ev.stats.prompt_tokens
            stats["evaluated"] = ev.stats.evaluated_tokens
            done.set()

    submit(request, sink)
    done.wait(300)
    elapsed = first[0] if first else time.perf_counter() - started
    return elapsed, "".join(shown), stats.get("prompt", 0), stats.get("evaluated", 0)


def _warm(submit: Submit, store: StoreSnapshot, *, key: str, openings: int) -> None:
    """What a running server evaluates ahead for a store (`engine.worker`): its prefix, then its first `openings`
    turn openings (`engine.openings`), untimed."""
    prefix = store_prefix(store)
    _visible(submit, warm_request(prefix, key=key), StreamGuard(store))
    for n, turn in enumerate(opening_turns(store, limit=openings)):
        _visible(submit, opening_request(prefix, turn, key=f"{key}-opening{n}"), StreamGuard(store))


def run_pipeline_workload(
    name: str, submit: Submit, chats: Sequence[Chat], *, max_tokens: int, openings: int = 0
) -> PipelineReport:
    """Each chat: its first question, then its follow-up with the first turn as history, one chat after another
    (a warm-up per store first, as on a running server whose store prefix, and `openings` of its entries' turn
    openings, are cached)."""
    report = PipelineReport(name=name)
    warmed: set[str] = set()
    for i, chat in enumerate(chats):
        prefix = store_prefix(chat.store)
        if chat.store.version not in warmed:
            _warm(submit, chat.store, key=f"{name}-warm{i}", openings=openings)
            warmed.add(chat.store.version)
        conversation = f"{name}-chat{i}"
        first = decide(store=chat.store, question=chat.first)
        messages = build_messages(prefix=prefix, history=[], user_content=first.user_content)
        request = GenerationRequest(f"{conversation}-1", conversation, messages, max_tokens)
        guard = StreamGuard(chat.store, reference=first.reference, question=first.question)
        seconds, text, prompt_tokens, evaluated = _visible(submit, request, guard)
        report.first_visible.append(seconds)
        report.first_prompt_tokens.append(prompt_tokens)
        report.evaluated_first.append(evaluated)

        context = ChatContext(recent=(("shopper", chat.first), ("bot", text)))
        follow = decide(store=chat.store, question=chat.follow_up, context=context)
        if follow.kind != "generate":
            continue  # the store answers this follow-up without the model
        history = [Turn("user", first.user_content), Turn("assistant", text)]
        messages = build_messages(prefix=prefix, history=history, user_content=follow.user_content)
        request = GenerationRequest(f"{conversation}-2", conversation, messages, max_tokens)
        guard = StreamGuard(chat.store, reference=follow.reference, question=follow.question)
        seconds, _, _, evaluated = _visible(submit, request, guard)
        report.follow_visible.append(seconds)
        report.evaluated_follow.append(evaluated)
    return report


def run_evaluation_workload(
    report: PipelineReport,
    submit: Submit,
    asked: Sequence[Asked],
    *,
    max_tokens: int,
    earlier_max_tokens: int,
    openings: int = 0,
) -> PipelineReport:
    """Each question as `eval_answers` asks it, one chat after another: its earlier messages first (answered
    as the chat would: directly, or by the model with the engine's answer length, untimed), then the question,
    timed when the model answers it (capped at `max_tokens`: the first visible text comes long before). A
    store's prefix is warmed whenever the questions move to another store, as `eval_answers` does and a
    running server does when a chat opens; a handed-off chat goes on, as the bot answers while it waits."""
    warm_store = ""
    for i, chat in enumerate(asked):
        prefix = store_prefix(chat.store)
        if chat.store.version != warm_store:
            _warm(submit, chat.store, key=f"{report.name}-ewarm{i}", openings=openings)
            warm_store = chat.store.version
        conversation = f"{report.name}-eval{i}"
        history: list[Turn] = []
        recent: list[tuple[str, str]] = []
        for n, text in enumerate([*chat.earlier, chat.question]):
            context = ChatContext(product_in_view=chat.product, recent=tuple(recent[-CONTEXT_TEXTS:]))
            decision = decide(store=chat.store, question=text, context=context)
            timed = n == len(chat.earlier)
            if decision.kind != "generate":
                history += [Turn("user", text), Turn("assistant", decision.text)]
                role = "entry" if decision.source in ("faq", "handoff") else "bot"  # as the chat's context reads it
                recent += [("shopper", text), (role, decision.text)]
                continue
            messages = build_messages(
                prefix=prefix, history=history[-HISTORY_TURNS * 2 :], user_content=decision.user_content
            )
            cap = max_tokens if timed else earlier_max_tokens
            request = GenerationRequest(f"{conversation}-{n}", conversation, messages, cap)
            guard = StreamGuard(chat.store, reference=decision.reference, question=decision.question)
            seconds, shown, _, evaluated = _visible(submit, request, guard)
            if timed:
                report.asked_visible.append(seconds)
                report.evaluated_asked.append(evaluated)
            history += [Turn("user", decision.user_content), Turn("assistant", shown)]
            recent += [("shopper", text), ("bot", shown)]
    return report
