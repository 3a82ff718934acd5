"""Read-only REST API of the conversation log: one generic view per operation."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.models import Conversation, Message, Visitor
from conversations.selectors import conversation_list, conversation_list_with_transcript
from kb.apis import IsStoreStaff, StaffModelPermissions, StoreSlugField


class VisitorSerializer(serializers.ModelSerializer[Visitor]):
    class Meta:
        model = Visitor
        ref_name = "ConversationVisitor"
        fields = ["id", "customer_id", "display_name", "last_seen_at"]


class MessageSerializer(serializers.ModelSerializer[Message]):
    agent = serializers.SlugRelatedField[Any](slug_field="username", read_only=True)

    class Meta:
        model = Message
        ref_name = "TranscriptMessage"
        fields = [
            "id",
            "role",
            "text",
            "source",
            "partial",
            "matched",
            "flags",
            "agent",
            "feedback",
            "feedback_comment",
            "ttft_ms",
            "total_ms",
            "created_at",
        ]


class ConversationListApi(ListAPIView[Conversation]):
    permission_classes = [IsStoreStaff, StaffModelPermissions]

    class FilterSerializer(serializers.Serializer[Any]):
        store = serializers.SlugField(required=False, help_text="Only this store (its slug).")
        status = serializers.ChoiceField(choices=Conversation.Status.choices, required=False)

    class OutputSerializer(serializers.ModelSerializer[Conversation]):
        store = StoreSlugField(read_only=True)
        visitor = VisitorSerializer(read_only=True)
        message_count = serializers.IntegerField(read_only=True)

        class Meta:
            model = Conversation
            ref_name = "Conversation"
            fields = [
                "id",
                "store",
                "visitor",
                "status",
                "outcome",
                "message_count",
                "created_at",
                "updated_at",
                "closed_at",
            ]

    serializer_class = OutputSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return conversation_list(
            user=self.request.user,
            store_slug=filters.validated_data.get("store", ""),
            status=filters.validated_data.get("status", ""),
        )

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ConversationDetailApi(RetrieveAPIView[Conversation]):
    """One conversation with its transcript."""

    permission_classes = [IsStoreStaff, StaffModelPermissions]

    class OutputSerializer(ConversationListApi.OutputSerializer):
        messages = MessageSerializer(many=True, read_only=True)

        class Meta(ConversationListApi.OutputSerializer.Meta):
            ref_name = "ConversationDetail"
            fields = [*ConversationListApi.OutputSerializer.Meta.fields, "messages"]

    serializer_class = OutputSerializer

    def get_queryset(self) -> QuerySet[Conversation]:
        return conversation_list_with_transcript(user=self.request.user)
