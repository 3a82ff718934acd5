from django.urls import URLPattern, URLResolver, path

from conversations import product_copy, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.demo_shop, name="demo-shop"),
    path("chat/<slug:store>/", views.chat_page, name="chat-page"),
    path("chat/<slug:store>/config.json", views.chat_config, name="chat-config"),
    path("agent/", views.agent_console, name="agent-console"),
    path("agent/close-stale/", views.agent_close_stale, name="agent-close-stale"),
    path("backoffice/products/<int:product_id>/copy/", product_copy.product_copy_page, name="product-copy"),
    path(
        "backoffice/products/<int:product_id>/copy/stream/",
        product_copy.product_copy_stream,
        name="product-copy-stream",
    ),
]
