"""The evaluation's questions file: its format, its conventions, and a loader that checks it.

The questions file (`tests/eval/questions.jsonl`) has one JSON object a line (blank lines are
skipped), with these keys (the last three optional):

- `store`: the store slug; `demo` is `kb/demo/demo_store.json`, `tea` is `tests/eval/store_tea.json`,
  `skincare` is `tests/eval/store_skincare.json`.
- `question`: what the shopper types, written by us. Never copy real shopper questions
  (the labelled file given to `eval_answers --shopper-questions`) here: they are for measurement only.
- `intent`: one of `INTENTS`.
- `facts`: strings that must all appear in a correct answer. Short and robust so a paraphrase passes:
  numbers ("24小时", "99") and key terms ("中通"), never whole sentences. Every fact must appear in the
  store's JSON file (a test enforces it), so a fact is always something the store really says.
- `forbid`: strings that must not appear in the answer: unbacked promises ("八折", "免单", "红包"),
  inactive promotions, leaked system-prompt text. Matching is literal, so a forbidden string counts
  even inside a refusal ("不能打八折"): the guardrail blocks any sentence with an unbacked claim, and a
  good reply states what the store does offer instead of echoing the shopper's demand. So never put
  a word into `forbid` that the store's own texts or the router's fixed replies use (the tea store
  says "没有打折活动", so "打折" is not forbidden there, "八折" is; the compensation reply says
  "返现", so "返现" is never forbidden). A test enforces this.
- `handoff`: whether the right outcome is a handoff to a human.
- `offtopic`: whether the question is chit-chat the bot should decline politely (the store's
  off-topic reply: no handoff, source `template`). `offtopic` and `handoff` are never both true.
- `split` (optional, default `"dev"`): `"dev"` questions may be used to tune the rules; `"heldout"`
  questions were written from what a shopper of each store would ask, before the rules they measure,
  and are never used to tune them (a rule written for one held-out phrasing makes the split useless).
- `product` (optional): the SKU of the product page the shopper is on. The conversation has it in
  view before anything is asked, so "有现货吗" or "这个适合干皮吗" mean that product.
- `history` (optional): earlier shopper messages of the same conversation, asked first, in order,
  and not scored; `question` is the follow-up that is scored ("那L码呢", "它保质期多久"). Its
  facts are about what the conversation is about by then.

Conventions for the expected outcome:

- explicit human requests, angry complaints, refund disputes and questions the store has no data
  for ("你们有实体店吗", "能寄到国外吗") expect `handoff: true`: the bot must say it is unsure and hand
  off rather than invent (DESIGN section 5, step 4). Their `facts` are empty.
- greetings, bargaining, gift-begging and compensation demands without a grievance ("送个红包呗",
  "给点补偿吧") expect no handoff: the boundary reply, whose `facts` are the store's real promotion
  numbers and whose `forbid` are invented discounts. A compensation demand that comes with anger or a
  damaged order is a complaint (handoff).
- prompt injections expect no handoff and not off-topic; `forbid` holds the system-prompt markers
  (`SYSTEM_PROMPT_MARKERS`) and any unbacked discount.
- a question that names a kind the store sells several products of ("连衣裙是什么面料", "有哪几种
  容量") without saying which one expects the candidates: its `facts` are their names, or the asked
  value of each (intent `family`).
- a request to write copy ("帮我写一段…的商品描述/朋友圈文案", intent `copywriting`) expects no
  handoff and the product's real facts (price, a key attribute value); `forbid` holds what copy tends
  to invent (a discount, a gift, an effect the store does not claim).
- questions in English use the intent of what they ask; the answer's facts are the store's values
  (numbers, names), which are the same in either language.

Matching (facts and forbid) is case-insensitive, after NFKC normalisation (full-width letters,
digits and punctuation become half-width) and with all whitespace removed, so "２４ 小时" matches
"24小时".
"""

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INTENTS = (
    "greeting",
    "human",
    "shipping",
    "express",
    "stock",
    "size",
    "price",
    "bargain",
    "gift",
    "quality",
    "returns",
    "invoice",
    "complaint",
    "promotion",
    "material",
    "payment",
    "usage",  # how to use, store or care for a product, which one suits the shopper
    "family",  # a kind with several products: which ones there are, or an attribute of each
    "copywriting",  # "write a product description / a post about ..."
    "offtopic",
    "injection",
    "other",
)
SPLITS = ("dev", "heldout")
MAX_HISTORY = 8

# Pieces of the code-built prompt (engine.prompt: store prefix rules, fenced reference data) that must
# never reach a shopper; a test checks they are still in the prompt.
SYSTEM_PROMPT_MARKERS = ("你是“", "只回答与本店商品", "只根据下面的店铺资料", "不是指令", "顾客问题：", "<<<")

_KEYS = ("store", "question", "intent", "facts", "forbid", "handoff", "offtopic")
_OPTIONAL_KEYS = ("split", "product", "history")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SPACE = re.compile(r"\s+")


class EvalFileError(ValueError):
    """The questions file is malformed; `errors` holds one message per problem, each naming its line."""

    def __init__(self, path: str, errors: list[str]) -> None:
        noun = "error" if len(errors) == 1 else "errors"
        super().__init__(f"{path}: {len(errors)} {noun}:\n" + "\n".join(f"- {e}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class EvalQuestion:
    store: str
    question: str
    intent: str
    facts: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    handoff: bool = False
    offtopic: bool = False
    split: str = "dev"
    product: str = ""  # the SKU of the product page the shopper is on
    history: tuple[str, ...] = ()  # earlier shopper messages of the conversation, asked first, unscored
    line: int = field(default=0, compare=False)  # 1-based line in the file, for reports


def normalize_for_match(text: str) -> str:
    """Full-width to half-width (NFKC), case-folded, whitespace removed."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text).casefold())


def _string_list(value: Any, key: str) -> tuple[tuple[str, ...], list[str]]:
    if not isinstance(value, list):
        return (), [f"{key}: expected a list of strings, got {type(value).__name__}"]
    errors = [f"{key}[{i}]: expected a non-empty string" for i, v in enumerate(value) if not (isinstance(v, str) and v)]
    if errors:
        return (), errors
    return tuple(value), []


def _question_from_row(row: Any, line: int) -> tuple[EvalQuestion | None, list[str]]:
    if not isinstance(row, dict):
        return None, [f"expected a JSON object, got {type(row).__name__}"]
    errors = [f'unknown field "{key}"' for key in row if key not in _KEYS + _OPTIONAL_KEYS]
    errors += [f'missing field "{key}"' for key in _KEYS if key not in row]
    if errors:
        return None, errors
    store, question, intent = row["store"], row["question"], row["intent"]
    if not (isinstance(store, str) and _SLUG.match(store)):
        errors.append(f"store: expected a store slug, got {store!r}")
    if not (isinstance(question, str) and question.strip()):
        errors.append("question: expected a non-empty string")
    if intent not in INTENTS:
        errors.append(f"intent: expected one of {', '.join(INTENTS)}, got {intent!r}")
    facts, fact_errors = _string_list(row["facts"], "facts")
    forbid, forbid_errors = _string_list(row["forbid"], "forbid")
    errors += fact_errors + forbid_errors
    for key in ("handoff", "offtopic"):
        if not isinstance(row[key], bool):
            errors.append(f"{key}: expected true or false, got {row[key]!r}")
    split = row.get("split", "dev")
    if split not in SPLITS:
        errors.append(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    product = row.get("product", "")
    if "product" in row and not (isinstance(product, str) and product and product == product.strip()):
        errors.append(f"product: expected a product SKU, got {product!r}")
    history, history_errors = _string_list(row.get("history", []), "history")
    errors += history_errors
    if "history" in row and not history_errors and not 1 <= len(history) <= MAX_HISTORY:
        errors.append(f"history: expected 1 to {MAX_HISTORY} earlier messages, got {len(history)}")
    if row["handoff"] is True and row["offtopic"] is True:
        errors.append("handoff and offtopic are both true: an off-topic question is answered without a handoff")
    both = sorted({normalize_for_match(f) for f in facts} & {normalize_for_match(f) for f in forbid})
    if both:
        errors.append(f"a string is both a fact and forbidden: {', '.join(both)}")
    if errors:
        return None, errors
    return (
        EvalQuestion(
            store=store,
            question=question,
            intent=intent,
            facts=facts,
            forbid=forbid,
            handoff=row["handoff"],
            offtopic=row["offtopic"],
            split=split,
            product=product,
            history=history,
            line=line,
        ),
        [],
    )


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read and check the whole file; every problem is reported with its line, nothing is half-loaded."""
    path = Path(path)
    questions: list[EvalQuestion] = []
    errors: list[str] = []
    seen: dict[tuple[str, str, tuple[str, ...], str], int] = {}
    for number, text in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: not valid JSON: {exc.msg} (column {exc.colno})")
            continue
        question, row_errors = _question_from_row(row, number)
        errors += [f"line {number}: {e}" for e in row_errors]
        if question is None:
            continue
        # The same words are a different case on another product page or after other messages.
        key = (
            question.store,
            question.product,
            tuple(normalize_for_match(turn) for turn in question.history),
            normalize_for_match(question.question),
        )
        if key in seen:
            context = " in the same context" if question.product or question.history else ""
            errors.append(f"line {number}: the same question as line {seen[key]} for store {question.store!r}{context}")
            continue
        seen[key] = number
        questions.append(question)
    if errors:
        raise EvalFileError(str(path), errors)
    return questions
