"""A store as the chat widget's public side sees it: its settings, its embed snippet, the pages it may chat from."""

from typing import TypedDict
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from kb.models import Store
from kb.validation import origin_normalize

# The theme keys the widget reads; anything else stored in the theme stays private.
THEME_KEYS = ("color", "position", "title", "avatar", "lang")


class StoreWidgetConfig(TypedDict):
    slug: str
    name: str
    assistant_name: str
    welcome: str
    quick_questions: list[str]
    theme: dict[str, str]
    max_chars: int


def store_widget_config(*, store: Store) -> StoreWidgetConfig:
    """What any page may read about the store's widget: public settings only, never the widget secret.

    The stored JSON is not trusted to have its shape (it may predate a rule): only strings reach the
    quick questions, and only the theme keys the widget knows, each as a string.
    """
    theme = store.theme if isinstance(store.theme, dict) else {}
    questions = store.quick_questions if isinstance(store.quick_questions, list) else []
    return {
        "slug": store.slug,
        "name": store.name,
        "assistant_name": store.assistant_name,
        "welcome": store.welcome,
        "quick_questions": [q for q in questions if isinstance(q, str)],
        "theme": {key: str(theme.get(key) or "") for key in THEME_KEYS},
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
    }


def _widget_script_url(*, base_url: str) -> str:
    # The file's plain name, not the hashed one: shops paste this once and it must keep working.
    return f"{base_url.rstrip('/')}{settings.STATIC_URL}conversations/widget.js"


def store_widget_snippet(*, store: Store, base_url: str) -> str:
    """The one line a shop pastes into its pages to show the widget."""
    return f'<script src="{_widget_script_url(base_url=base_url)}" data-store="{store.slug}" async></script>'


def store_origin_allowed(*, store: Store, origin: str, host: str) -> bool:
    """The page's origin is one of the store's, or this server's own (the chat page, the demo page).

    Own means: the origin names the host the request came to, and that host is one Django serves,
    so a foreign name pointed at this server (DNS rebinding) is still refused.
    """
    origin = origin_normalize(origin)
    if not origin or origin == "null":
        return False
    if origin in {origin_normalize(o) for o in store.allowed_origins if isinstance(o, str)}:
        return True
    host = host.strip().lower()
    parts = urlsplit(origin)
    domain, _port = split_domain_port(host)
    return bool(
        parts.scheme in ("http", "https")
        and host
        and parts.netloc == host
        and validate_host(domain, settings.ALLOWED_HOSTS)
    )
