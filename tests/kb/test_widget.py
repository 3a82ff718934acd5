"""What the chat widget's public side may know of a store: its settings, its snippet, the pages it may chat from."""

import json

import pytest

from kb.widget import store_origin_allowed, store_widget_config, store_widget_snippet
from tests.kb.factories import StoreFactory

pytestmark = pytest.mark.django_db


def test_widget_config_holds_public_settings_only_in_the_shapes_the_widget_reads():
    store = StoreFactory(slug="shop", name="小熊服饰", welcome="欢迎光临！")
    store.quick_questions = ["什么时候发货?", 3, None, {"q": "x"}, "有现货吗?"]
    store.theme = {
        "color": "#1677ff",
        "position": "left",
        "title": 5,
        "lang": "en",
        "avatar": None,
        "secret": store.widget_secret,
        "onload": "alert(1)",
    }

    config = store_widget_config(store=store)

    assert config == {
        "slug": "shop",
        "name": "小熊服饰",
        "assistant_name": store.assistant_name,
        "welcome": "欢迎光临！",
        "quick_questions": ["什么时候发货?", "有现货吗?"],
        "theme": {"color": "#1677ff", "position": "left", "title": "5", "avatar": "", "lang": "en"},
        "max_chars": 2000,
    }
    assert store.widget_secret not in json.dumps(config)


def test_widget_config_of_settings_stored_in_the_wrong_shape_is_still_well_formed():
    store = StoreFactory()
    store.quick_questions = "有现货吗?"
    store.theme = ["#1677ff"]

    config = store_widget_config(store=store)

    assert config["quick_questions"] == []
    assert config["theme"] == {"color": "", "position": "", "title": "", "avatar": "", "lang": ""}


def test_snippet_loads_the_widget_by_its_plain_name_for_the_store():
    store = StoreFactory(slug="shop")
    snippet = store_widget_snippet(store=store, base_url="https://desk.example.com/")
    src = "https://desk.example.com/static/conversations/widget.js"
    assert snippet == f'<script src="{src}" data-store="shop" async></script>'


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("https://shop.example.com", "desk.example.net", True),
        ("HTTPS://Shop.Example.com/", "desk.example.net", True),  # as browsers and users may write it
        ("https://www.example.com", "desk.example.net", False),
        ("http://shop.example.com", "desk.example.net", False),  # another scheme is another origin
        ("http://testserver", "testserver", True),  # this server's own pages: the chat page, the demo
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://evil.example", "evil.example", False),  # a foreign name pointed at this server
        ("http://testserver", "127.0.0.1:8000", False),
        ("null", "testserver", False),  # sandboxed frames and file:// pages
        ("", "testserver", False),
    ],
)
def test_origin_allowed_is_the_stores_pages_or_this_servers_own(origin, host, allowed):
    store = StoreFactory(allowed_origins=["https://Shop.example.com/", 7])
    assert store_origin_allowed(store=store, origin=origin, host=host) is allowed
