import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

# Django must be set up before anything imports models (consumers do, through routing).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from conversations.engine_bridge import engine_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The chat consumer checks each connection's Origin against its store's allowed origins (plus
        # this server's own host): a store-wide ALLOWED_HOSTS check would refuse the shops' own sites.
        "websocket": URLRouter(websocket_urlpatterns),
        # `python manage.py runworker engine` serves this in the scaled mode.
        "channel": engine_application(),
    }
)
