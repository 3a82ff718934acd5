from django.urls import URLPattern, URLResolver, path

from conversations.campaigns.apis import ShopEventApi, ShopWebhookView
from conversations.campaigns.views import demo_cart, reminder_restore

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/shops/<slug:store>/webhooks/", ShopWebhookView.as_view(), name="shop-webhook"),
    path("api/shops/<slug:store>/events/", ShopEventApi.as_view(), name="shop-event"),
    path("r/<str:token>/", reminder_restore, name="reminder-restore"),
    path("demo/cart/", demo_cart, name="demo-cart"),
]
