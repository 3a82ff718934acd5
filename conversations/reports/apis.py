"""The report's figures as JSON: the same numbers as the page, for the user's stores only."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.reports.formulas import FORMULAS
from conversations.reports.selectors import report_build, report_period_parse
from kb.apis import IsStoreStaff
from kb.selectors import store_list_for_user


class ReportApi(APIView):
    """GET /api/reports/<store>/: the store's figures of a period (day, week or custom; store time zone).

    `summary` holds the period's figures (rates are fractions, times in ms or s), `days` the same per day
    (they add up to the summary), `formulas` how each is computed, `audit` the ids of the conversations
    and messages each figure counts.
    """

    permission_classes = [IsStoreStaff]

    class FilterSerializer(serializers.Serializer[Any]):
        period = serializers.ChoiceField(
            choices=["day", "week", "custom"],
            required=False,
            help_text="day or week (Monday to Sunday) around `day`; custom from `start` to `end`. "
            "Default: the last 7 days.",
        )
        day = serializers.CharField(required=False, help_text="YYYY-MM-DD (period day or week; default today).")
        start = serializers.CharField(required=False, help_text="YYYY-MM-DD, first day of a custom period.")
        end = serializers.CharField(
            required=False, help_text="YYYY-MM-DD, last day included; at most two years after start."
        )

    class OutputSerializer(serializers.Serializer[Any]):
        store = serializers.CharField()
        start = serializers.DateField(help_text="First day of the period.")
        end = serializers.DateField(help_text="Last day of the period (included).")
        time_zone = serializers.CharField()
        summary = serializers.JSONField(
            help_text="conversations, outcomes (count and share, adding up to 100), reopened, questions, intercepted, "
            "interception_rate, interception_target, bot_resolution, handoff (by_reason), csat, thumbs, "
            "first_token_ms (p50/p95 per source), human_first_response_s and handling_s (p50/p90), "
            "guardrail_trips, busy_refusals."
        )
        in_progress = serializers.IntegerField(help_text="Conversations going on now (no outcome yet).")
        days = serializers.ListField(child=serializers.JSONField(), help_text="{day, ...summary} per day.")
        faq = serializers.ListField(
            child=serializers.JSONField(), help_text="Per FAQ entry: hits, up, down, last_used."
        )
        comments = serializers.ListField(child=serializers.JSONField(), help_text="Thumbs with a comment.")
        campaigns = serializers.ListField(child=serializers.JSONField(), help_text="Campaign figures by campaign.")
        gaps = serializers.ListField(
            child=serializers.JSONField(), help_text="Unanswered questions grouped: question, count, examples."
        )
        formulas = serializers.DictField(child=serializers.CharField())
        audit = serializers.JSONField(help_text="The ids every figure counts (conversations, messages).")

    @extend_schema(parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request: Request, store: str) -> Response:
        found = store_list_for_user(user=request.user).filter(slug=store).first()
        if found is None:
            raise Http404
        q = request.query_params
        period = report_period_parse(
            store=found,
            period=q.get("period", ""),
            day=q.get("day", ""),
            start=q.get("start", ""),
            end=q.get("end", ""),
        )
        report = report_build(store=found, period=period)
        data = {
            "store": found.slug,
            "start": period.first,
            "end": period.last,
            "time_zone": period.tz.key,
            "summary": report.summary,
            "in_progress": report.in_progress,
            "days": [{"day": day.isoformat(), **summary} for day, summary in report.days],
            "faq": report.faq_rows,
            "comments": report.comments,
            "campaigns": [
                {"key": c.key, "title": str(c.title), "figures": {key: value for key, _label, value in c.rows}}
                for c in report.campaigns
            ],
            "formulas": {key: str(text) for key, text in FORMULAS.items()},
            "gaps": [
                {
                    "question": g.question,
                    "count": g.count,
                    "examples": g.examples,
                    "agent_reply": g.agent_reply,
                    "message_ids": [i.message_id for i in g.items],
                }
                for g in report.gaps
            ],
            "audit": report.figures.to_json(),
        }
        return Response(self.OutputSerializer(data).data)
