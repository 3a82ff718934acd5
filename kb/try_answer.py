"""The store page's test chat: the real pipeline on the store's current data, with why it answered so.

Nothing is recorded: no visitor, conversation or message, so a test never counts in any figure. Each
question is asked as the first turn of a chat. A model answer is generated in this process, so only where
the engine runs here (the embedded mode); elsewhere the test shows what the model would be given.
"""

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from engine.generate import AnswerJob, GenerationRequest
from engine.pipeline import decide
from engine.prompt import build_messages, store_prefix
from engine.worker import answer_blocking
from kb.models import Store
from kb.selectors import store_snapshot

MAX_QUESTION_CHARS = 500


@dataclass(frozen=True)
class TryAnswer:
    question: str
    answer: str
    source: str  # faq | llm | template | handoff | guardrail
    route: str  # the pipeline's decision: faq, unsure, handoff, greeting, llm, ...
    handoff: bool
    matched: list[dict[str, Any]]  # FAQ entries and product rows with their retrieval scores
    flags: list[str]  # the guard's and the pipeline's flags
    ttft_ms: int | None = None
    note: str = ""
    links: dict[str, str] = field(default_factory=dict)


def store_try_answer(*, store: Store, question: str) -> TryAnswer:
    """What the bot would answer `question` right now, and why."""
    started = time.monotonic()
    snapshot = store_snapshot(store=store)
    decision = decide(store=snapshot, question=question)
    matched = [dict(m) for m in decision.matched]
    if decision.kind == "direct":
        elapsed = int((time.monotonic() - started) * 1000)
        return TryAnswer(
            question,
            decision.text,
            decision.source,
            decision.route,
            decision.handoff,
            matched,
            [decision.route],
            elapsed,
        )
    if settings.ENGINE_MODE != "embedded":
        note = _("The model answers this one; the test chat runs the model only in the embedded mode.")
        return TryAnswer(question, "", "llm", decision.route, False, matched, [], None, note)
    request = GenerationRequest(
        job_id=uuid.uuid4().hex,
        conversation_key=f"try-{uuid.uuid4().hex}",
        messages=build_messages(prefix=store_prefix(snapshot), history=[], user_content=decision.user_content),
        max_tokens=settings.ENGINE_MAX_TOKENS,
        max_seconds=settings.ENGINE_MAX_SECONDS,
    )
    job = AnswerJob(
        request=request,
        store_id=snapshot.store_id,
        reference=decision.reference,
        question=decision.question,
        matched=decision.matched,
        fallback=decision.fallback,
        fallback_source=decision.fallback_source,
    )
    answer = answer_blocking(job=job, snapshot=snapshot, started=started)
    result = answer.result
    handoff = result.source == "guardrail"
    return TryAnswer(
        question, result.text, result.source, decision.route, handoff, matched, list(result.flags), answer.ttft_ms
    )


def store_try_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """POST {"question": "..."} to a store the user may see: the answer and its why, as JSON."""
    store = model_admin.get_object(request, object_id)
    if store is None or not model_admin.has_view_permission(request, store):
        raise Http404
    if request.method != "POST":
        return HttpResponse(status=405)
    try:
        question = str(json.loads(request.body or b"{}").get("question", "")).strip()
    except (ValueError, AttributeError):
        question = ""
    if not question or len(question) > MAX_QUESTION_CHARS:
        message = _("Type a question of 1 to %(max)s characters.") % {"max": MAX_QUESTION_CHARS}
        return JsonResponse({"message": message}, status=400)
    answer = store_try_answer(store=store, question=question)
    links = {
        "faq_add": f"{reverse('admin:kb_faqentry_add')}?{urlencode({'store': store.pk, 'question': question})}",
        **{
            f"faq_{m['id']}": reverse("admin:kb_faqentry_change", args=[m["id"]])
            for m in answer.matched
            if m.get("kind") == "faq"
        },
    }
    return JsonResponse({**asdict(answer), "links": links})
