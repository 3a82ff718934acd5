"""One rule per setting: the admin, the API and the knowledge-base file refuse a value alike, with the same words.

The words are compared in English (the browser's language here); tests/test_translations.py checks the Chinese.
"""

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from kb.kb_file import kb_file_validate
from kb.models import FaqEntry, Promotion, Store
from kb.services import store_import
from tests.kb.factories import StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


NOT_AN_ORIGIN = (
    '"{}" is not an origin; write scheme, host and optional port only, like "https://shop.example.com" (no path)'
)
# The admin types lists one item per line and adds what to type to the shared rule's message.
ORIGIN_HINT = "Write one per line, e.g.:\nhttps://shop.example.com\nhttps://m.shop.example.com"
QUESTION_HINT = "Write one per line, e.g.:\nWhen do you ship?\nCan I return it?"
KEYWORD_HINT = "Write one per line, e.g.:\nship\nhow many days"


@pytest.fixture
def store() -> Store:
    return StoreFactory(slug="shop", name="小熊服饰")


@pytest.fixture
def admin_client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))
    return client


@pytest.fixture
def api(store: Store) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(StaffUserFactory(stores=[store]))
    return client


def _admin_store_errors(client, store: Store, field: str, value: Any) -> list[str]:
    data = {
        "slug": store.slug,
        "name": store.name,
        "staff": list(store.staff.values_list("pk", flat=True)),
        "assistant_name": store.assistant_name,
        "quick_questions": "\n".join(store.quick_questions),
        **{f"theme_{key}": value for key, value in store.theme.items()},
        "allowed_origins": "\n".join(store.allowed_origins),
        "relevance_threshold": str(store.relevance_threshold),
        "retrieval_top_k": str(store.retrieval_top_k),
        field: value,
    }
    response = client.post(reverse("admin:kb_store_change", args=[store.pk]), data)
    if response.status_code == 302:
        return []
    return response.context["adminform"].form.errors.get(field, [])


def _api_message(response) -> str:
    assert response.status_code == 400, response.json()
    return response.json()["message"]


def _file_errors(store: dict[str, Any] | None = None, **sections: list[dict[str, Any]]) -> list[str]:
    data = {"store": {"slug": "shop", "name": "小熊服饰", **(store or {})}, **sections}
    return kb_file_validate(data=data).all_errors()


# --- store settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://shop.example.com/cart",
        "shop.example.com",
        "ftp://shop.example.com",
        "https://shop.example.com?ref=1",
        "https://clerk@shop.example.com",
        "https://shop example.com",
    ],
)
def test_what_is_not_an_origin_is_refused_alike_by_admin_api_and_file(admin_client, api, store, origin):
    message = NOT_AN_ORIGIN.format(origin)

    assert _admin_store_errors(admin_client, store, "allowed_origins", origin) == [f"{message}. {ORIGIN_HINT}"]
    response = api.patch("/api/stores/shop/", {"allowed_origins": [origin]}, format="json")
    assert _api_message(response) == f"allowed_origins: {message}"
    assert _file_errors({"allowed_origins": [origin]}) == [f"store: allowed_origins: {message}"]
    store.refresh_from_db()
    assert store.allowed_origins == []


def test_an_origin_is_stored_in_the_form_browsers_send_whichever_way_it_came(admin_client, api, store):
    written = ["HTTPS://Shop.Example.com/", "http://localhost:8000"]
    stored = ["https://shop.example.com", "http://localhost:8000"]

    assert _admin_store_errors(admin_client, store, "allowed_origins", "\n".join(written)) == []
    store.refresh_from_db()
    assert store.allowed_origins == stored

    Store.objects.filter(pk=store.pk).update(allowed_origins=[])
    assert api.patch("/api/stores/shop/", {"allowed_origins": written}, format="json").status_code == 200
    store.refresh_from_db()
    assert store.allowed_origins == stored

    Store.objects.filter(pk=store.pk).update(allowed_origins=[])
    store_import(data={"store": {"slug": "shop", "name": "小熊服饰", "allowed_origins": written}})
    store.refresh_from_db()
    assert store.allowed_origins == stored


@pytest.mark.parametrize(
    ("questions", "message", "in_admin"),
    [
        (["包邮吗?", "  "], "item 1 is an empty string", f"item 1 is an empty string. {QUESTION_HINT}"),
        (["包邮吗?", 7], "item 1 is 7, expected a string", f"item 1 is 7, expected a string. {QUESTION_HINT}"),
        (
            [f"问题{n}?" for n in range(11)],
            "at most 10 items, got 11",
            f"At most 10 lines, there are 11. {QUESTION_HINT}",
        ),
        (["长" * 101], "item 0 is longer than 100 characters", f"Line 1 is longer than 100 characters: “{'长' * 20}…”"),
        # In the admin a lone string is one line: one question.
        ("包邮吗?", 'expected an array of strings, got "包邮吗?"', None),
    ],
)
def test_quick_questions_are_checked_alike_by_admin_api_and_file(
    admin_client, api, store, questions, message, in_admin
):
    # The admin gets the list pasted as JSON, as someone copying it from the API or a file would.
    pasted = json.dumps(questions, ensure_ascii=False)
    assert _admin_store_errors(admin_client, store, "quick_questions", pasted) == ([in_admin] if in_admin else [])
    response = api.patch("/api/stores/shop/", {"quick_questions": questions}, format="json")
    assert _api_message(response) == f"quick_questions: {message}"
    assert _file_errors({"quick_questions": questions}) == [f"store: quick_questions: {message}"]


def test_list_items_lose_the_blanks_around_them_whichever_way_they_came(admin_client, api, store):
    assert _admin_store_errors(admin_client, store, "blocked_phrases", " 保证 \n绝对") == []
    store.refresh_from_db()
    assert store.blocked_phrases == ["保证", "绝对"]

    response = api.patch("/api/stores/shop/", {"blocked_phrases": ["包赔 "]}, format="json")
    assert response.status_code == 200
    store.refresh_from_db()
    assert store.blocked_phrases == ["包赔"]

    store_import(data={"store": {"slug": "shop", "name": "小熊服饰", "blocked_phrases": ["  返现"]}})
    store.refresh_from_db()
    assert store.blocked_phrases == ["返现"]


def test_an_empty_faq_keyword_is_refused_alike_by_admin_api_and_file(admin_client, api, store):
    # An empty keyword would match every question.
    message = "item 1 is an empty string"
    faq = {"question": "几天发货?", "answer": "48小时内发货。", "keywords": ["发货", " "]}

    response = admin_client.post(
        reverse("admin:kb_faqentry_add"),
        {**faq, "store": store.pk, "keywords": json.dumps(faq["keywords"]), "alt_questions": "[]", "mode": "direct"},
    )
    assert response.context["adminform"].form.errors["keywords"] == [f"{message}. {KEYWORD_HINT}"]
    response = api.post("/api/faqs/", {**faq, "store": "shop"}, format="json")
    assert _api_message(response) == f"keywords: {message}"
    assert _file_errors(faqs=[faq]) == [f'faqs[0] (question "几天发货?"): keywords: {message}']
    assert not FaqEntry.objects.exists()


# --- promotions -------------------------------------------------------------------------------------------

PROMOTION_CASES = {
    "gift without the gift": (
        {"kind": "gift", "gift": ""},
        "gift",
        'a gift promotion needs the gift, like "精美小礼品"',
    ),
    "multiplier of 1": (
        {"kind": "multiplier", "multiplier": "1"},
        "multiplier",
        'a multiplier promotion needs a factor between 0 and 1, like "0.95" for 95折',
    ),
    "threshold_off without an amount": (
        {"kind": "threshold_off", "threshold": "300", "amount": "0"},
        "amount",
        'a threshold_off promotion needs an amount greater than 0, like "50"',
    ),
    "free shipping with an amount off": (
        {"kind": "free_shipping", "amount": "10"},
        "amount",
        'a free_shipping promotion does not use "amount"; leave it out',
    ),
    "ending before it starts": (
        {"kind": "free_shipping", "starts_at": "2026-06-18T00:00:00+08:00", "ends_at": "2026-06-01T00:00:00+08:00"},
        "ends_at",
        "must be after starts_at",
    ),
}


def _admin_promotion_form(store: Store, terms: dict[str, Any]) -> dict[str, Any]:
    data = {"store": store.pk, "title": "618大促", "threshold": "0", "enabled": "on"}
    for name, value in terms.items():
        if name in ("starts_at", "ends_at"):  # the admin's split date and time inputs
            data[f"{name}_0"], data[f"{name}_1"] = value[:10], value[11:19]
        else:
            data[name] = value
    return data


@pytest.mark.parametrize("case", list(PROMOTION_CASES))
def test_promotion_terms_are_refused_alike_by_admin_api_and_file(admin_client, api, store, case):
    terms, field, message = PROMOTION_CASES[case]

    response = admin_client.post(reverse("admin:kb_promotion_add"), _admin_promotion_form(store, terms))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    response = api.post("/api/promotions/", {"store": "shop", "title": "618大促", **terms}, format="json")
    assert _api_message(response) == f"{field}: {message}"
    file_errors = _file_errors(promotions=[{"title": "618大促", **terms}])
    assert file_errors == [f'promotions[0] (title "618大促"): {field}: {message}']
    assert not Promotion.objects.exists()


def test_a_promotion_with_sound_terms_is_saved_by_the_admin(admin_client, store):
    terms = {"kind": "gift", "gift": "精美小礼品", "starts_at": "2026-06-01T00:00:00", "ends_at": "2026-06-18T00:00:00"}
    response = admin_client.post(reverse("admin:kb_promotion_add"), _admin_promotion_form(store, terms))
    assert response.status_code == 302
    assert Promotion.objects.get().gift == "精美小礼品"
