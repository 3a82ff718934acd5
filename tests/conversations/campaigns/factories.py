from datetime import timedelta

import factory
from django.utils import timezone

from conversations.campaigns.models import Cart, CartItem, Order, ShopCustomer
from tests.kb.factories import StoreFactory


class ShopCustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShopCustomer

    store = factory.SubFactory(StoreFactory)
    external_id = factory.Sequence(lambda n: f"cust-{n}")
    email = factory.Sequence(lambda n: f"shopper{n}@example.com")
    consent = True


class CartFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cart

    store = factory.SubFactory(StoreFactory)
    external_id = factory.Sequence(lambda n: f"cart-{n}")
    version = 1
    customer = factory.SubFactory(ShopCustomerFactory, store=factory.SelfAttribute("..store"))
    changed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2))


class CartItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CartItem

    cart = factory.SubFactory(CartFactory)
    sku = "TS-001"
    name = "纯棉T恤"
    quantity = 1


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    store = factory.SubFactory(StoreFactory)
    external_id = factory.Sequence(lambda n: f"order-{n}")
    version = 1
    customer = factory.SubFactory(ShopCustomerFactory, store=factory.SelfAttribute("..store"))
    placed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2))
