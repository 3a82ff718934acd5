"""The report as staff meet it: the back-office page with its charts, the CSV exports and the JSON API, for
their own stores only, with a clear error for a period that makes no sense."""

import csv
import io

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from conversations.models import Message
from conversations.reports import tasks
from tests.conversations.reports.scenario import play_day
from tests.kb.factories import StaffUserFactory, StoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_shops():
    a = play_day(StoreFactory(slug="shop-a"))
    b = play_day(StoreFactory(slug="shop-b"))
    manager = StaffUserFactory(username="manager-a", stores=[a.store])
    return a, b, manager


def _page(client, slug, **query):
    return client.get(reverse("admin:reports_store_report", args=[slug]), query)


def test_the_page_shows_the_days_figures_with_charts_and_formulas(client, two_shops):
    a, _b, manager = two_shops
    client.force_login(manager)
    response = _page(client, "shop-a", period="day", day=a.day.isoformat())
    assert response.status_code == 200
    html = response.content.decode()
    for chart in ("chart-outcomes", "chart-interception", "chart-first-token", "chart-handoffs"):
        assert f'id="{chart}"' in html
    assert html.count('class="bar"') >= 5  # five outcome segments, handoff reasons
    assert 'class="target"' in html  # the 70% line
    cards = response.context["cards"]
    assert cards[0]["value"] == 7  # conversations
    assert all(c["formula"] for c in cards)
    assert "没说快递公司" in html  # the thumbs-down comment is listed
    assert "<script" not in html.split('id="content-main"')[1]  # drawn on the server, nothing loaded


def test_the_admin_index_links_to_the_report_and_one_store_opens_at_once(client, two_shops):
    _a, _b, manager = two_shops
    client.force_login(manager)
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:reports_dailyfigures_changelist") in index
    response = client.get(reverse("admin:reports_dailyfigures_changelist"))
    assert response.status_code == 302 and response["Location"].endswith("/shop-a/")


def test_csv_exports_every_table(client, two_shops):
    a, _b, manager = two_shops
    client.force_login(manager)
    url = reverse("admin:reports_store_csv", args=["shop-a", "outcomes"])
    response = client.get(url, {"period": "day", "day": a.day.isoformat()})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows[0]) == 3  # outcome, conversations, share
    assert [r[1] for r in rows[1:]] == ["2", "1", "2", "1", "1"]
    comments = client.get(
        reverse("admin:reports_store_csv", args=["shop-a", "comments"]), {"period": "day", "day": a.day.isoformat()}
    )
    assert "没说快递公司" in comments.content.decode("utf-8-sig")
    for table in ("daily", "handoffs", "csat", "first_token", "faq", "campaigns"):
        assert client.get(reverse("admin:reports_store_csv", args=["shop-a", table])).status_code == 200


def test_a_comment_that_looks_like_a_formula_stays_text_in_the_csv(client, two_shops):
    a, _b, manager = two_shops
    Message.objects.filter(pk=a.m["c7"].pk).update(feedback_comment='=HYPERLINK("http://evil")')
    client.force_login(manager)
    response = client.get(
        reverse("admin:reports_store_csv", args=["shop-a", "comments"]), {"period": "day", "day": a.day.isoformat()}
    )
    assert "'=HYPERLINK" in response.content.decode("utf-8-sig")


def test_a_manager_never_sees_another_stores_figures(client, two_shops):
    a, b, manager = two_shops
    client.force_login(manager)
    assert _page(client, "shop-b").status_code == 404
    assert client.get(reverse("admin:reports_store_csv", args=["shop-b", "comments"])).status_code == 404
    api = APIClient()
    api.force_authenticate(manager)
    assert api.get("/api/reports/shop-b/").status_code == 404
    mine = api.get("/api/reports/shop-a/", {"period": "day", "day": a.day.isoformat()}).json()
    theirs = {c.pk for c in b.c.values()}
    audit_ids = {cid for ids in mine["audit"]["outcomes"].values() for cid in ids}
    assert audit_ids and not audit_ids & theirs
    assert all(row["conversation"] not in theirs for row in mine["comments"])


def test_the_api_gives_the_same_figures_as_json(two_shops):
    a, _b, manager = two_shops
    api = APIClient()
    api.force_authenticate(manager)
    data = api.get("/api/reports/shop-a/", {"period": "day", "day": a.day.isoformat()}).json()
    assert data["store"] == "shop-a" and data["time_zone"] == "Asia/Shanghai"
    assert data["summary"]["conversations"] == 7
    assert sum(float(v["share"]) for v in data["summary"]["outcomes"].values()) == pytest.approx(100.0)
    assert data["summary"]["interception_target"] == 0.7
    assert data["days"][0]["day"] == a.day.isoformat()
    assert "interception_rate" in data["formulas"]
    assert data["campaigns"][0]["key"] == "reminders" and data["campaigns"][0]["figures"]["sent"] == 0
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/reports/{store}/" in schema["paths"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"start": "2026-03-10", "end": "2026-03-01"}, "reversed_period"),
        ({"start": "2023-01-01", "end": "2026-01-02"}, "period_too_long"),
        ({"start": "2026-13-01", "end": "2026-13-05"}, "bad_date"),
        ({"period": "day", "day": "yesterday"}, "bad_date"),
        ({"period": "year"}, "bad_period"),
        ({"period": "custom", "start": "2026-03-01"}, "bad_period"),
    ],
)
def test_a_period_that_makes_no_sense_is_a_clear_error(client, two_shops, query, code):
    _a, _b, manager = two_shops
    api = APIClient()
    api.force_authenticate(manager)
    response = api.get("/api/reports/shop-a/", query)
    assert response.status_code == 400
    assert response.json()["extra"]["code"] == code and response.json()["message"]
    client.force_login(manager)
    page = _page(client, "shop-a", **query)
    assert page.status_code == 400 and 'id="report-error"' in page.content.decode()


def test_the_tasks_keep_their_names_and_are_scheduled():
    assert tasks.conversations_sweep_task.name == "reports.conversations_sweep"
    assert tasks.daily_figures_refresh_task.name == "reports.daily_figures_refresh"
    scheduled = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"reports.conversations_sweep", "reports.daily_figures_refresh"} <= scheduled
