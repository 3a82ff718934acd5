"""A store's business hours: when people answer chats."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from kb.hours import HoursError, hours_clean, hours_text, is_open

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in the week of Monday 2026-11-23 (day 0) in the project's time zone."""
    return datetime(2026, 11, 23 + day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("hours", "moment", "expected"),
    [
        ({}, at(6, 3), True),  # no set hours: whenever an agent is online
        ({"mon": ["09:00-18:00"]}, at(0, 9), True),
        ({"mon": ["09:00-18:00"]}, at(0, 17, 59), True),
        ({"mon": ["09:00-18:00"]}, at(0, 18), False),
        ({"mon": ["09:00-18:00"]}, at(1, 10), False),  # Tuesday is left out: closed
        ({"sat": ["10:00-12:00", "13:00-16:00"]}, at(5, 12, 30), False),
        ({"sat": ["10:00-12:00", "13:00-16:00"]}, at(5, 13, 30), True),
        ({"fri": ["20:00-02:00"]}, at(4, 23), True),
        ({"fri": ["20:00-02:00"]}, at(5, 1, 59), True),  # past midnight, Friday's range still runs
        ({"fri": ["20:00-02:00"]}, at(5, 2), False),
        ({"sun": ["00:00-24:00"]}, at(6, 23, 59), True),
    ],
)
def test_is_open(hours, moment, expected):
    assert is_open(hours, moment) is expected


def test_hours_text_groups_days_with_the_same_hours():
    hours = {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": ["10:00-16:00"]}
    assert hours_text(hours) == "周一至周五 09:00-18:00；周六 10:00-16:00"
    assert hours_text({}) == ""


@pytest.mark.parametrize(
    "bad",
    [
        ["09:00-18:00"],
        {"monday": ["09:00-18:00"]},
        {"mon": ["9-18"]},
        {"mon": ["25:00-26:00"]},
        {"mon": ["09:00-09:00"]},
        {"mon": []},
        {"mon": [9]},
    ],
)
def test_bad_hours_are_refused_with_a_reason(bad):
    with pytest.raises(HoursError) as error:
        hours_clean(bad)
    assert str(error.value)


def test_hours_are_stored_normalised():
    assert hours_clean({"mon": "9:00 - 18:00"}) == {"mon": ["09:00-18:00"]}


@pytest.mark.django_db
def test_the_api_refuses_bad_hours_and_keeps_good_ones(client):
    from tests.kb.factories import StaffUserFactory, StoreFactory

    store = StoreFactory(slug="shop")
    client.force_login(StaffUserFactory(stores=[store]))
    bad = client.patch("/api/stores/shop/", {"business_hours": {"mon": []}}, content_type="application/json")
    assert bad.status_code == 400 and "business_hours" in bad.content.decode()
    good = client.patch(
        "/api/stores/shop/", {"business_hours": {"mon": ["09:00-18:00"]}}, content_type="application/json"
    )
    assert good.status_code == 200, good.content
    store.refresh_from_db()
    assert store.business_hours == {"mon": ["09:00-18:00"]}
