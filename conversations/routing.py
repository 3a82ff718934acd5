from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from conversations.consumers.agent import AgentConsumer
from conversations.consumers.chat import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/<slug:store>/", ChatConsumer.as_asgi()),
    # The console signs in with the session cookie, so only pages of this server may open it (no
    # other site can ride an agent's cookie).
    path("ws/agent/", AllowedHostsOriginValidator(AuthMiddlewareStack(AgentConsumer.as_asgi()))),
]
