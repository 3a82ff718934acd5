"""Store staff meet shop work only; an administrator adds an agent from the store's page in one step."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from kb.services import STAFF_GROUP
from tests.kb.factories import StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db

TECHNICAL_SECTIONS = ("周期性任务", "认证令牌", "认证和授权")


@pytest.fixture
def store():
    return StoreFactory(slug="bear", name="小熊服饰")


@pytest.fixture
def boss(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-for-tests-123"))
    return client


def test_store_staff_see_shop_work_only_even_with_every_permission(client, store):
    clerk = StaffUserFactory(stores=[store])
    clerk.user_permissions.add(*Permission.objects.all())
    client.force_login(clerk)

    index = client.get(reverse("admin:index")).content.decode()

    assert "店铺知识库" in index and "客服对话" in index
    assert "常见问题" in index and "转人工工单" in index and "商品" in index
    assert [name for name in TECHNICAL_SECTIONS if name in index] == []
    assert client.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 403
    assert client.get(reverse("admin:authtoken_tokenproxy_changelist")).status_code == 403
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_superusers_see_the_technical_sections(boss):
    index = boss.get(reverse("admin:index")).content.decode()

    assert [name for name in TECHNICAL_SECTIONS if name in index] == list(TECHNICAL_SECTIONS)
    # Shop work first, the technical sections after it.
    assert index.index("店铺知识库") < index.index("客服对话") < min(index.index(n) for n in TECHNICAL_SECTIONS)
    assert boss.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 200


def test_the_store_page_offers_add_staff_member_with_a_note(boss, store):
    page = boss.get(reverse("admin:kb_store_change", args=[store.pk])).content.decode()
    assert reverse("admin:kb_store_add_staff", args=[store.pk]) in page
    assert "添加店铺员工" in page

    form = boss.get(reverse("admin:kb_store_add_staff", args=[store.pk])).content.decode()
    assert "职员状态" in form and "/agent/" in form


def test_adding_a_new_staff_member_creates_an_agent_who_can_work_at_once(boss, client, store):
    response = boss.post(
        reverse("admin:kb_store_add_staff", args=[store.pk]),
        {"username": "xiaomei", "password": "Kefu-2026-xiaomei", "email": ""},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("admin:kb_store_change", args=[store.pk])
    assert [str(m) for m in response.context["messages"]] == ["已创建账号“xiaomei”，并加入小熊服饰的店铺员工。"]
    agent = get_user_model().objects.get(username="xiaomei")
    assert agent.is_staff and not agent.is_superuser
    assert list(store.staff.all()) == [agent]
    assert agent.groups.filter(name=STAFF_GROUP).exists()

    # The new agent signs in through the back office's own sign-in page, as they would.
    client.logout()
    signed_in = client.post(
        "/admin/login/?next=/agent/", {"username": "xiaomei", "password": "Kefu-2026-xiaomei", "next": "/agent/"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/agent/"
    assert client.get("/agent/").status_code == 200
    faqs = client.get(reverse("admin:kb_faqentry_changelist"))
    assert faqs.status_code == 200, "no “你没有查看或编辑的权限”"
    assert "小熊服饰" in client.get(reverse("admin:kb_store_changelist")).content.decode()


def test_an_existing_account_without_staff_status_is_linked(boss, store):
    user = get_user_model().objects.create_user("laowang", password="Old-password-123")
    assert not user.is_staff

    response = boss.post(reverse("admin:kb_store_add_staff", args=[store.pk]), {"username": "laowang"}, follow=True)

    assert [str(m) for m in response.context["messages"]] == ["账号“laowang”已加入小熊服饰的店铺员工。"]
    user.refresh_from_db()
    assert user.is_staff and user.check_password("Old-password-123")
    assert list(store.staff.all()) == [user]
    picker = boss.get(reverse("admin:kb_store_change", args=[store.pk])).content.decode()
    assert "laowang" in picker


@pytest.mark.parametrize(("password", "error"), [("", "新账号需要设置密码。"), ("12345678", "这个密码太常见了。")])
def test_a_new_account_without_a_sound_password_is_refused_and_nothing_changes(boss, store, password, error):
    response = boss.post(
        reverse("admin:kb_store_add_staff", args=[store.pk]), {"username": "newbie", "password": password}
    )

    assert response.status_code == 200
    messages = response.context["form"].errors["password"]
    assert any(error in message for message in messages), messages
    assert not get_user_model().objects.filter(username="newbie").exists()
    assert not store.staff.exists()


def test_store_staff_cannot_add_staff(client, store):
    client.force_login(StaffUserFactory(stores=[store]))

    page = client.get(reverse("admin:kb_store_change", args=[store.pk])).content.decode()
    assert reverse("admin:kb_store_add_staff", args=[store.pk]) not in page
    response = client.post(
        reverse("admin:kb_store_add_staff", args=[store.pk]), {"username": "sneaky", "password": "Sneaky-pass-2026"}
    )
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="sneaky").exists()
