from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from rest_framework.test import APIClient

from engine.knowledge import snapshot_from_file
from kb.models import Promotion
from kb.selectors import promotion_list_active, store_snapshot
from tests.kb.factories import FaqEntryFactory, PromotionFactory, StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 6, 1, tzinfo=SHANGHAI)
END = datetime(2026, 6, 19, tzinfo=SHANGHAI)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("window", "enabled", "at", "active"),
    [
        ((START, END), True, START - SECOND, False),
        ((START, END), True, START, True),  # the window is half-open: it opens at starts_at
        ((START, END), True, END - SECOND, True),
        ((START, END), True, END, False),  # ... and is closed at ends_at
        ((START, END), False, START + SECOND, False),
        ((None, END), True, START - timedelta(days=365), True),
        ((START, None), True, END + timedelta(days=365), True),
        ((None, None), True, END, True),
        ((None, None), False, END, False),
    ],
)
def test_a_promotion_in_hand_and_the_database_agree_whether_it_is_active(window, enabled, at, active):
    promotion = PromotionFactory(starts_at=window[0], ends_at=window[1], enabled=enabled)
    assert promotion.is_active(at) is active
    assert Promotion.objects.active(at).filter(pk=promotion.pk).exists() is active
    assert (promotion in promotion_list_active(store=promotion.store, at=at)) is active


def test_a_promotion_outside_its_window_is_inactive_everywhere():
    store = StoreFactory(slug="shop")
    now = datetime.now(SHANGHAI)
    ended = PromotionFactory(store=store, title="已结束的满减", starts_at=now - timedelta(days=9), ends_at=now - SECOND)
    running = PromotionFactory(store=store, title="进行中的满减", ends_at=now + timedelta(days=1))
    api = APIClient()
    api.force_login(StaffUserFactory(stores=[store]))

    assert not ended.is_active() and running.is_active()
    assert list(promotion_list_active(store=store)) == [running]
    shown = {row["title"]: row["is_active"] for row in api.get("/api/promotions/").json()["results"]}
    assert shown == {"已结束的满减": False, "进行中的满减": True}
    assert [p.title for p in store_snapshot(store=store).promotions] == ["进行中的满减"]
    # A knowledge-base file read without the database (benchmarks, evaluations) keeps the same rule.
    data = {
        "store": {"slug": "shop", "name": "店"},
        "promotions": [
            {
                "title": p.title,
                "kind": "gift",
                "gift": "小礼品",
                "starts_at": p.starts_at and p.starts_at.isoformat(),
                "ends_at": p.ends_at and p.ends_at.isoformat(),
            }
            for p in (ended, running)
        ]
        + [
            {"title": "未开始", "kind": "gift", "gift": "小礼品", "starts_at": (now + SECOND * 60).isoformat()},
            {"title": "已停用", "kind": "gift", "gift": "小礼品", "enabled": False},
        ],
    }
    assert [p.title for p in snapshot_from_file(data).promotions] == ["进行中的满减"]


def test_the_snapshot_sees_an_edit_at_once_although_its_version_is_kept_a_moment():
    store = StoreFactory()
    first = store_snapshot(store=store)
    faq = FaqEntryFactory(store=store, question="支持货到付款吗?", answer="支持。")
    assert [f.question for f in store_snapshot(store=store).faqs] == ["支持货到付款吗?"]
    faq.answer = "不支持货到付款。"
    faq.save()
    assert [f.answer for f in store_snapshot(store=store).faqs] == ["不支持货到付款。"]
    faq.delete()
    assert store_snapshot(store=store).faqs == () and first.faqs == ()
