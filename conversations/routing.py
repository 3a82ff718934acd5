from django.urls import path

from conversations.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/<slug:store>/", ChatConsumer.as_asgi()),
]
