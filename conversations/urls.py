from django.urls import URLPattern, URLResolver, path

from conversations.apis import ConversationDetailApi, ConversationListApi

urlpatterns: list[URLPattern | URLResolver] = [
    path("conversations/", ConversationListApi.as_view(), name="conversation-list"),
    path("conversations/<int:pk>/", ConversationDetailApi.as_view(), name="conversation-detail"),
]
