from typing import Any

# Websocket routes are added by the apps that own them (chat, agent console).
websocket_urlpatterns: list[Any] = []
