import copy
import io
import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from kb import kb_file_json
from kb.models import FaqEntry, Product, Promotion, Store, SynonymRule
from kb.selectors import promotion_list_active
from tests.kb.factories import FaqEntryFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db

DEMO_FILE = Path(settings.BASE_DIR) / "kb" / "demo" / "demo_store.json"
KB_MODELS = (Store, Product, Promotion, FaqEntry, SynonymRule)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in KB_MODELS}


def _import(path: Path | str, *args: str) -> str:
    out = io.StringIO()
    call_command("import_kb", str(path), *args, stdout=out)
    return out.getvalue()


def _export(slug: str = "demo") -> dict[str, Any]:
    out = io.StringIO()
    call_command("export_kb", "--store", slug, stdout=out)
    return json.loads(out.getvalue())


def _write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def demo() -> dict[str, Any]:
    return json.loads(DEMO_FILE.read_text(encoding="utf-8"))


# --- the demo store ---------------------------------------------------------------------------------


def test_demo_file_imports_the_whole_store():
    output = _import(DEMO_FILE)

    assert _counts() == {"Store": 1, "Product": 8, "Promotion": 5, "FaqEntry": 24, "SynonymRule": 9}
    assert 'store "demo" (示例服饰旗舰店): created' in output
    assert "products: 8 created, 0 updated, 0 unchanged" in output
    assert "faqs: 24 created, 0 updated, 0 unchanged" in output
    store = Store.objects.get(slug="demo")
    assert store.assistant_name == "小美"
    assert store.allowed_origins == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert all([store.persona, store.boundaries, store.offtopic_reply, store.handoff_message, store.welcome])
    assert store.disclaimer
    tee = store.products.get(sku="TS-001")
    assert tee.price == 99 and tee.stock == 120 and tee.attributes["尺码"] == ["S", "M", "L", "XL"]
    assert store.synonyms.get(phrase="啥时候发").replacement == "什么时候发货"


def test_demo_store_is_consistent_with_what_the_bot_may_promise():
    _import(DEMO_FILE)
    store = Store.objects.get(slug="demo")

    questions = set(store.faqs.values_list("question", flat=True))
    assert 15 <= len(questions) <= 25
    assert set(store.quick_questions) <= questions, "every quick question has a direct FAQ answer"
    assert {"有现货吗?", "什么时候发货?"} <= set(store.quick_questions)
    assert set(store.faqs.values_list("mode", flat=True)) == {"direct", "reference"}
    assert {"shipping", "returns", "size", "stock", "invoice", "care", "payment", "order"} <= set(
        store.faqs.values_list("category", flat=True)
    )
    for product in store.products.filter(is_active=True):
        assert product.attributes["尺码"] == ["S", "M", "L", "XL"], product.sku
        assert product.size_guide and product.shipping_note and product.description, product.sku
    assert store.products.filter(sku__startswith="DR-", is_active=True).count() >= 2
    assert store.products.filter(sku__startswith="TS-", is_active=True).count() >= 2


def test_demo_store_has_active_promotions_now_and_later():
    _import(DEMO_FILE)
    store = Store.objects.get(slug="demo")

    for at in (timezone.now(), timezone.now() + timedelta(days=3650)):
        active = {p.title: p for p in promotion_list_active(store=store, at=at)}
        kinds = {p.kind for p in active.values()}
        assert kinds == {"threshold_off", "multiplier", "gift", "free_shipping"}
        assert any(p.threshold == 300 and p.amount == 50 for p in active.values() if p.kind == "threshold_off")
        assert "618满减" not in active
    during_618 = {p.title for p in promotion_list_active(store=store, at=datetime(2026, 6, 10, tzinfo=SHANGHAI))}
    assert "618满减" in during_618
    members = store.promotions.get(kind="multiplier")
    assert members.multiplier == Decimal("0.95") and members.member_only
    gift = store.promotions.get(kind="gift")
    assert gift.threshold == 0 and gift.gift


# --- idempotency ------------------------------------------------------------------------------------


def test_importing_twice_changes_nothing():
    _import(DEMO_FILE)
    first = _export()
    stamps = {model: dict(model.objects.values_list("pk", "updated_at")) for model in KB_MODELS}

    output = _import(DEMO_FILE)

    assert _counts() == {"Store": 1, "Product": 8, "Promotion": 5, "FaqEntry": 24, "SynonymRule": 9}
    assert _export() == first
    assert 'store "demo" (示例服饰旗舰店): unchanged' in output
    for section, total in (("products", 8), ("promotions", 5), ("faqs", 24), ("synonyms", 9)):
        assert f"{section}: 0 created, 0 updated, {total} unchanged" in output
    assert {model: dict(model.objects.values_list("pk", "updated_at")) for model in KB_MODELS} == stamps


def test_a_changed_file_updates_and_adds_rows(tmp_path, demo):
    _import(DEMO_FILE)
    faq_pk = FaqEntry.objects.get(question="什么时候发货?").pk
    demo["products"][0]["price"] = "109.00"
    demo["faqs"][0]["answer"] = "现货商品付款后48小时内发货。"
    demo["products"].append({"sku": "TS-005", "name": "条纹T恤", "price": "109", "stock": 5})
    demo["store"]["welcome"] = "欢迎光临！"

    output = _import(_write(tmp_path / "changed.json", demo))

    assert 'store "demo" (示例服饰旗舰店): updated' in output
    assert "products: 1 created, 1 updated, 7 unchanged" in output
    assert "faqs: 0 created, 1 updated, 23 unchanged" in output
    assert Product.objects.get(sku="TS-001").price == 109
    assert Product.objects.get(sku="TS-005").stock == 5
    faq = FaqEntry.objects.get(question="什么时候发货?")
    assert faq.pk == faq_pk and faq.answer == "现货商品付款后48小时内发货。"
    assert Store.objects.get(slug="demo").welcome == "欢迎光临！"


def test_left_out_fields_take_the_default_and_left_out_rows_stay(tmp_path, demo):
    _import(DEMO_FILE)
    del demo["products"][0]["description"]
    del demo["products"][1]
    del demo["faqs"][0]["keywords"]

    _import(_write(tmp_path / "smaller.json", demo))

    assert Product.objects.get(sku="TS-001").description == ""
    assert Product.objects.filter(sku="TS-002").exists()
    assert FaqEntry.objects.get(question="什么时候发货?").keywords == []


def test_prune_deletes_rows_the_file_does_not_name(tmp_path, demo):
    _import(DEMO_FILE)
    FaqEntryFactory(store=Store.objects.get(slug="demo"), question="后台加的问题?")
    del demo["products"][1]
    del demo["synonyms"]  # a section the file leaves out is not touched

    output = _import(_write(tmp_path / "pruned.json", demo), "--prune")

    assert "products: 0 created, 0 updated, 7 unchanged, 1 deleted" in output
    assert "faqs: 0 created, 0 updated, 24 unchanged, 1 deleted" in output
    assert not Product.objects.filter(sku="TS-002").exists()
    assert not FaqEntry.objects.filter(question="后台加的问题?").exists()
    assert SynonymRule.objects.count() == 9


def test_dry_run_reports_but_writes_nothing():
    output = _import(DEMO_FILE, "--dry-run")

    assert "products: 8 created" in output and "dry run: nothing was written" in output
    assert _counts() == dict.fromkeys(["Store", "Product", "Promotion", "FaqEntry", "SynonymRule"], 0)


def test_import_reads_standard_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(DEMO_FILE.read_bytes())))

    _import("-")

    assert Store.objects.filter(slug="demo").exists()


def test_import_keeps_what_the_file_does_not_own():
    """Staff, the widget secret and FAQ hit counts belong to the running shop, not to the file."""
    _import(DEMO_FILE)
    store = Store.objects.get(slug="demo")
    FaqEntry.objects.filter(store=store).update(hit_count=7)
    secret = store.widget_secret

    _import(DEMO_FILE)

    store.refresh_from_db()
    assert store.widget_secret == secret
    assert set(FaqEntry.objects.values_list("hit_count", flat=True)) == {7}


# --- export and round trip --------------------------------------------------------------------------


def test_export_then_import_into_a_wiped_database_gives_the_same_data(tmp_path):
    _import(DEMO_FILE)
    exported = tmp_path / "export.json"
    call_command("export_kb", "--store", "demo", "--output", str(exported), stdout=io.StringIO())
    before = _export()
    assert json.loads(exported.read_text(encoding="utf-8")) == before

    Store.objects.all().delete()
    assert _counts() == dict.fromkeys(["Store", "Product", "Promotion", "FaqEntry", "SynonymRule"], 0)
    _import(exported)

    assert _export() == before
    assert _counts() == {"Store": 1, "Product": 8, "Promotion": 5, "FaqEntry": 24, "SynonymRule": 9}


def test_importing_an_export_is_a_no_op(tmp_path):
    store = StoreFactory(slug="factory-made")
    ProductFactory.create_batch(3, store=store)
    FaqEntryFactory.create_batch(2, store=store)
    path = tmp_path / "export.json"
    call_command("export_kb", "--store", "factory-made", "-o", str(path), stdout=io.StringIO())

    output = _import(path)

    assert 'store "factory-made"' in output and ": unchanged" in output
    assert "products: 0 created, 0 updated, 3 unchanged" in output
    assert "faqs: 0 created, 0 updated, 2 unchanged" in output


def test_export_is_readable_utf8_json_in_a_stable_order(tmp_path):
    _import(DEMO_FILE)
    out = io.StringIO()
    call_command("export_kb", "--store", "demo", stdout=out)
    text = out.getvalue()

    assert "示例服饰旗舰店" in text and "\\u" not in text
    assert text.startswith('{\n  "store": {\n    "slug": "demo",')
    data = json.loads(text)
    assert [p["sku"] for p in data["products"]] == sorted(p["sku"] for p in data["products"])
    assert list(data) == ["store", "products", "promotions", "faqs", "synonyms"]
    assert "widget_secret" not in data["store"]
    multiplier = next(p for p in data["promotions"] if p["kind"] == "multiplier")
    assert "amount" not in multiplier and "gift" not in multiplier


def test_export_of_an_unknown_store_fails():
    with pytest.raises(CommandError, match='No store with slug "nope"'):
        call_command("export_kb", "--store", "nope", stdout=io.StringIO())


# --- a store written on the fly with every documented field -------------------------------------------

FULL_STORE: dict[str, Any] = {
    "store": {
        "slug": "tea-house",
        "name": "山间茶舍",
        "assistant_name": "阿茶",
        "persona": "温和的茶艺师。",
        "boundaries": "不承诺功效。",
        "offtopic_reply": "我只回答茶叶相关的问题。",
        "handoff_message": "稍等，茶舍主人马上来。",
        "offline_message": "茶舍主人不在，请留下电话或微信。",
        "business_hours": {"mon": ["09:00-18:00"], "sat": ["10:00-12:00", "13:00-16:00"], "sun": ["20:00-02:00"]},
        "disclaimer": "冲泡建议仅供参考。",
        "blocked_phrases": ["绝对正品", "假一赔十"],
        "welcome": "您好，想喝点什么茶？",
        "quick_questions": ["怎么冲泡?", "保质期多久?"],
        "theme": {"color": "#2e7d32", "position": "left", "title": "山间茶舍", "avatar": "/static/tea.png"},
        "allowed_origins": ["https://tea.example.com", "http://localhost:8000"],
        "relevance_threshold": 0.5,
        "retrieval_top_k": 5,
    },
    "products": [
        {
            "sku": "TEA-01",
            "name": "明前龙井 50g",
            "price": "168.00",
            "stock": 30,
            "description": "杭州明前龙井。",
            "attributes": {"产地": "杭州", "净含量": 50, "含水率": 6.5, "等级": ["特级", "一级"], "有机": True},
            "size_guide": "",
            "shipping_note": "顺丰冷链。",
            "is_active": True,
        },
        {
            "sku": "TEA-02",
            "name": "老白茶饼",
            "price": "0.00",
            "stock": 0,
            "description": "",
            "attributes": {},
            "size_guide": "",
            "shipping_note": "",
            "is_active": False,
        },
    ],
    "promotions": [
        {
            "title": "双12满200减30",
            "kind": "threshold_off",
            "description": "双12当天。",
            "threshold": "200.00",
            "amount": "30.00",
            "member_only": False,
            "starts_at": "2026-12-12T00:00:00+08:00",
            "ends_at": "2026-12-13T00:00:00+08:00",
            "enabled": True,
        },
        {
            "title": "老客88折",
            "kind": "multiplier",
            "description": "",
            "threshold": "0.00",
            "multiplier": "0.880",
            "member_only": True,
            "starts_at": None,
            "ends_at": None,
            "enabled": True,
        },
        {
            "title": "买茶送茶匙",
            "kind": "gift",
            "description": "",
            "threshold": "100.00",
            "gift": "竹茶匙",
            "member_only": False,
            "starts_at": "2026-01-01T08:30:00+08:00",
            "ends_at": None,
            "enabled": True,
        },
        {
            "title": "全场包邮",
            "kind": "free_shipping",
            "description": "",
            "threshold": "0.00",
            "member_only": False,
            "starts_at": None,
            "ends_at": "2027-01-01T00:00:00+08:00",
            "enabled": False,
        },
    ],
    "faqs": [
        {
            "question": "怎么冲泡?",
            "answer": "85℃水，3克茶叶。",
            "keywords": ["冲泡", "水温"],
            "alt_questions": ["用多少度的水?"],
            "mode": "direct",
            "category": "brewing",
            "enabled": True,
        },
        {
            "question": "保质期多久?",
            "answer": "18个月。",
            "keywords": [],
            "alt_questions": [],
            "mode": "reference",
            "category": "",
            "enabled": False,
        },
    ],
    "synonyms": [{"phrase": "咋泡", "replacement": "怎么冲泡"}],
}


def _by_key(data: dict[str, Any]) -> dict[str, Any]:
    keys = {"products": "sku", "promotions": "title", "faqs": "question", "synonyms": "phrase"}
    return {"store": data["store"]} | {name: {row[key]: row for row in data[name]} for name, key in keys.items()}


def test_a_new_store_with_every_documented_field_loads(tmp_path, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    _import(DEMO_FILE)  # another store is there already and stays untouched
    demo_before = _export("demo")

    output = _import(_write(tmp_path / "tea.json", FULL_STORE))

    assert 'store "tea-house" (山间茶舍): created' in output
    assert _by_key(_export("tea-house")) == _by_key(FULL_STORE)
    assert _export("demo") == demo_before
    store = Store.objects.get(slug="tea-house")
    assert store.relevance_threshold == 0.5 and store.retrieval_top_k == 5
    assert store.products.get(sku="TEA-01").attributes["含水率"] == 6.5
    double12 = store.promotions.get(title="双12满200减30")
    assert double12.starts_at == datetime(2026, 12, 12, tzinfo=SHANGHAI)
    assert not double12.is_active(datetime(2026, 12, 13, 0, 0, tzinfo=SHANGHAI))
    assert not store.faqs.get(question="保质期多久?").enabled


def test_a_minimal_store_file_loads_with_defaults(tmp_path):
    _import(_write(tmp_path / "mini.json", {"store": {"slug": "mini", "name": "小店"}}))

    store = Store.objects.get(slug="mini")
    assert store.assistant_name == "小助手" and store.retrieval_top_k == 3
    assert _export("mini")["products"] == []


def test_naive_times_are_read_in_the_project_time_zone(tmp_path, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    data = {
        "store": {"slug": "tz", "name": "时区店"},
        "promotions": [{"title": "包邮", "kind": "free_shipping", "starts_at": "2026-12-01T00:00:00"}],
    }
    _import(_write(tmp_path / "tz.json", data))

    assert Promotion.objects.get(title="包邮").starts_at == datetime(2026, 12, 1, tzinfo=SHANGHAI)


# --- broken files write nothing ---------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(section: str, index: int, name: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[section][index][name] = value

    return mutate


def _delete(section: str, index: int, name: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        del data[section][index][name]

    return mutate


def _store(name: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["store"][name] = value

    return mutate


def _top(name: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[name] = value

    return mutate


BROKEN: dict[str, tuple[Mutation, str]] = {
    "unknown field": (_set("products", 3, "colour", "red"), 'products[3] (sku "TS-004"): unknown field "colour"'),
    "typo hint": (_set("products", 0, "pirce", "9"), 'unknown field "pirce" (did you mean "price"?)'),
    "bad mode in the last row": (
        _set("faqs", 23, "mode", "sometimes"),
        'faqs[23] (question "人工客服什么时候在线?"): mode: expected one of "direct", "reference", got "sometimes"',
    ),
    "bad value in the last synonym": (
        _set("synonyms", 8, "replacement", 5),
        'synonyms[8] (phrase "多钱"): replacement: expected a string, got 5',
    ),
    "negative price in the last product": (
        _set("products", 7, "price", "-1"),
        'products[7] (sku "DR-004"): price: must not be negative',
    ),
    "bad decimal": (_set("products", 2, "price", "9,9"), 'products[2] (sku "TS-003"): price: expected a decimal'),
    "price as true": (_set("products", 2, "price", True), "price: expected a decimal number"),
    "too many decimal places": (_set("products", 1, "price", "99.999"), "price: Ensure that there are no more than 2"),
    "negative stock": (_set("products", 0, "stock", -1), 'products[0] (sku "TS-001"): stock: must be at least 0'),
    "stock as a string": (_set("products", 0, "stock", "12"), "stock: expected a whole number"),
    "attribute as an object": (
        _set("products", 0, "attributes", {"颜色": {"a": 1}}),
        'attributes: "颜色" is an object',
    ),
    "name too long": (_set("products", 0, "name", "长" * 201), "name: Ensure this value has at most 200 characters"),
    "empty product name": (_set("products", 0, "name", ""), "name: This field cannot be blank."),
    "missing required field": (
        _delete("faqs", 0, "answer"),
        'faqs[0] (question "什么时候发货?"): missing required field "answer"',
    ),
    "unknown promotion kind": (
        _set("promotions", 1, "kind", "bogo"),
        'promotions[1] (title "618满减"): kind: expected one of',
    ),
    "ends_at before starts_at": (
        _set("promotions", 1, "ends_at", "2026-05-01T00:00:00+08:00"),
        'promotions[1] (title "618满减"): ends_at: must be after starts_at',
    ),
    "ends_at equal to starts_at": (
        _set("promotions", 1, "ends_at", "2026-06-01T00:00:00+08:00"),
        "ends_at: must be after starts_at",
    ),
    "bad ISO 8601": (_set("promotions", 1, "starts_at", "next monday"), "starts_at: expected an ISO 8601 date-time"),
    "threshold_off without amount": (
        _set("promotions", 0, "amount", "0"),
        'promotions[0] (title "日常满300减50"): amount: a threshold_off promotion needs an amount greater than 0',
    ),
    "multiplier of 1": (_set("promotions", 2, "multiplier", "1"), "multiplier: a multiplier promotion needs a factor"),
    "gift without gift": (_delete("promotions", 3, "gift"), "gift: a gift promotion needs the gift"),
    "amount on free shipping": (
        _set("promotions", 4, "amount", "10"),
        'amount: a free_shipping promotion does not use "amount"',
    ),
    "negative threshold": (_set("promotions", 4, "threshold", "-99"), "threshold: must not be negative"),
    "keywords not a list": (_set("faqs", 2, "keywords", "快递"), "keywords: expected an array of strings"),
    "keywords with a number": (_set("faqs", 2, "keywords", ["快递", 3]), "keywords: item 1 is 3, expected a string"),
    "empty keyword": (_set("faqs", 2, "keywords", [" "]), "keywords: item 0 is an empty string"),
    "enabled as a string": (_set("faqs", 2, "enabled", "yes"), 'enabled: expected true or false, got "yes"'),
    "duplicate sku": (
        _set("products", 5, "sku", "TS-001"),
        'products[5] (sku "TS-001"): duplicate sku "TS-001", already used by products[0]',
    ),
    "duplicate question": (
        _set("faqs", 4, "question", "包邮吗?"),
        'duplicate question "包邮吗?", already used by faqs[3]',
    ),
    "duplicate title": (_set("promotions", 1, "title", "会员95折"), 'duplicate title "会员95折"'),
    "duplicate phrase": (_set("synonyms", 1, "phrase", "咋"), 'synonyms[2] (phrase "咋"): duplicate phrase "咋"'),
    "missing store name": (lambda data: data["store"].pop("name"), 'store: missing required field "name"'),
    "bad slug": (_store("slug", "示例 店"), "store: slug: Enter a valid “slug”"),
    "retrieval_top_k of 0": (_store("retrieval_top_k", 0), "store: retrieval_top_k: must be at least 1"),
    "origin with a path": (
        _store("allowed_origins", ["http://localhost:8000/chat"]),
        'store: allowed_origins: "http://localhost:8000/chat" is not an origin',
    ),
    "quick questions not a list": (_store("quick_questions", "有现货吗?"), "quick_questions: expected an array"),
    "unknown top-level field": (_top("product", []), 'top level: unknown field "product" (did you mean "products"?)'),
    "section not a list": (_top("faqs", {}), "faqs: expected an array of objects, got an object"),
    "row not an object": (_top("synonyms", ["咋"]), 'synonyms[0]: expected an object, got "咋"'),
    "store missing": (lambda data: data.pop("store"), 'top level: missing required field "store"'),
}


def _broken_bytes(demo: dict[str, Any], mutate: Mutation) -> bytes:
    # The demo store with one product changed for the better: the valid part of a broken file
    # must not be written either.
    demo["products"][0]["price"] = "1.00"
    mutate(demo)
    return json.dumps(demo, ensure_ascii=False).encode()


def _assert_broken_import_writes_nothing(path: Path, expected: str, *, existing: bool) -> CommandError:
    if existing:
        _import(DEMO_FILE)
    counts = _counts()
    snapshot = _export() if existing else None

    with pytest.raises(CommandError) as excinfo:
        _import(path)

    assert expected in str(excinfo.value)
    assert "nothing was imported" in str(excinfo.value)
    assert _counts() == counts
    if existing:
        assert _export() == snapshot
    return excinfo.value


@pytest.mark.parametrize("existing", [False, True], ids=["new-store", "existing-store"])
@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_writes_nothing_and_names_the_row(tmp_path, demo, case, existing):
    mutate, expected = BROKEN[case]
    path = tmp_path / "broken.json"
    path.write_bytes(_broken_bytes(demo, mutate))

    _assert_broken_import_writes_nothing(path, expected, existing=existing)


RAW_BROKEN: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "invalid JSON": (lambda raw: raw[:-20], "the file is not valid JSON: "),
    "double comma": (lambda raw: raw.replace(b'"demo",', b'"demo",,', 1), "the file is not valid JSON"),
    "not UTF-8": (lambda raw: raw.decode("utf-8").encode("gb18030"), "the file is not UTF-8 text"),
    "NaN": (lambda raw: raw.replace(b'"stock": 120', b'"stock": NaN', 1), "NaN is not a number JSON allows"),
    "duplicate key": (
        lambda raw: raw.replace(b'"stock": 120', b'"stock": 120, "stock": 5', 1),
        'products[0] (sku "TS-001"): field "stock" is written twice',
    ),
    "not an object": (lambda raw: b"[]", "the file must hold a JSON object, got an array"),
    "empty": (lambda raw: b"", "the file is not valid JSON"),
}


@pytest.mark.parametrize("existing", [False, True], ids=["new-store", "existing-store"])
@pytest.mark.parametrize("case", list(RAW_BROKEN))
def test_a_file_that_is_not_json_writes_nothing(tmp_path, case, existing):
    mutate, expected = RAW_BROKEN[case]
    path = tmp_path / "broken.json"
    path.write_bytes(mutate(DEMO_FILE.read_bytes()))

    _assert_broken_import_writes_nothing(path, expected, existing=existing)


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + DEMO_FILE.read_bytes())

    _import(path)

    assert Store.objects.filter(slug="demo").exists()


def test_a_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(kb_file_json, "MAX_FILE_BYTES", 1024)

    error = _assert_broken_import_writes_nothing(DEMO_FILE, "larger than the limit", existing=False)

    assert "MB" in str(error)


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        _import(tmp_path / "nope.json")


def test_every_error_is_reported_with_its_row(tmp_path, demo):
    data = copy.deepcopy(demo)
    data["products"][0]["colour"] = "red"
    data["promotions"][2]["multiplier"] = "1.5"
    data["faqs"][5]["mode"] = "sometimes"
    data["synonyms"][0]["replacement"] = ""

    with pytest.raises(CommandError) as excinfo:
        _import(_write(tmp_path / "broken.json", data))

    message = str(excinfo.value)
    assert "4 errors, nothing was imported" in message
    assert 'products[0] (sku "TS-001"): unknown field "colour"' in message
    assert 'promotions[2] (title "会员95折"): multiplier:' in message
    assert 'faqs[5] (question "支持7天无理由退换吗?"): mode:' in message
    assert 'synonyms[0] (phrase "啥时候发"): replacement: This field cannot be blank.' in message
    assert _counts()["Store"] == 0


def test_the_readme_example_loads(tmp_path):
    readme = (Path(settings.BASE_DIR) / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Knowledge-base file format", 1)[1]
    example = section.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.json"
    path.write_text(example, encoding="utf-8")

    output = _import(path)

    assert "products: 1 created" in output and "promotions: 5 created" in output
    assert Store.objects.get(slug="demo").allowed_origins == ["https://shop.example.com", "http://localhost:8000"]


@pytest.mark.django_db
def test_load_demo_loads_once_and_keeps_staff_edits():
    from kb.models import Store

    call_command("load_demo", stdout=io.StringIO())
    store = Store.objects.get(slug="demo")
    assert store.products.exists() and store.faqs.exists()
    store.welcome = "店长改过的欢迎语"
    store.save()
    call_command("load_demo", stdout=io.StringIO())
    store.refresh_from_db()
    assert store.welcome == "店长改过的欢迎语"
