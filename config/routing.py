from typing import Any

from conversations.routing import websocket_urlpatterns as chat_patterns

websocket_urlpatterns: list[Any] = [*chat_patterns]
