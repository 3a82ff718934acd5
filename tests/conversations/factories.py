import factory

from conversations.models import Conversation, Message, Visitor
from tests.kb.factories import StoreFactory


class VisitorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visitor

    store = factory.SubFactory(StoreFactory)


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    store = factory.SubFactory(StoreFactory)
    visitor = factory.SubFactory(VisitorFactory, store=factory.SelfAttribute("..store"))


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.CUSTOMER
    text = "有现货吗?"
