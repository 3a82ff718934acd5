from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from kb.models import FaqEntry, Product, Promotion, Store, SynonymRule


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"store-{n}")
    name = factory.Sequence(lambda n: f"测试店铺{n}")
    assistant_name = "小助手"
    persona = "热情、简洁的店铺客服。"
    boundaries = "不承诺店铺数据之外的价格、折扣、赠品或补偿。"
    offtopic_reply = "我是店铺客服，只能回答与本店商品和订单有关的问题哦。"
    handoff_message = "正在为您转接人工客服，请稍候。"
    welcome = "您好，有什么可以帮您？"
    quick_questions = ["什么时候发货?"]


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    store = factory.SubFactory(StoreFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"商品{n}")
    price = Decimal("99.00")
    stock = 10


class PromotionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Promotion

    store = factory.SubFactory(StoreFactory)
    title = factory.Sequence(lambda n: f"满减活动{n}")
    kind = Promotion.Kind.THRESHOLD_OFF
    threshold = Decimal("300")
    amount = Decimal("50")


class FaqEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FaqEntry

    store = factory.SubFactory(StoreFactory)
    question = factory.Sequence(lambda n: f"问题{n}?")
    answer = "这是答案。"
    keywords = factory.LazyFunction(lambda: ["发货"])
    mode = FaqEntry.Mode.DIRECT
    category = "shipping"


class SynonymRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SynonymRule

    store = factory.SubFactory(StoreFactory)
    phrase = factory.Sequence(lambda n: f"啥{n}")
    replacement = "什么"


KB_MODELS = ("store", "product", "promotion", "faqentry", "synonymrule")


class StaffUserFactory(factory.django.DjangoModelFactory):
    """A staff member with the knowledge-base and conversation permissions a shop clerk gets."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-123")

    @factory.post_generation
    def stores(self, create: bool, extracted: list[Store] | None, **kwargs: object) -> None:
        if not create:
            return
        perms = Permission.objects.filter(content_type__app_label__in=["kb", "conversations", "reports"])
        self.user_permissions.add(*perms)
        for store in extracted or []:
            store.staff.add(self)
        self.save()
