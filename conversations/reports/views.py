"""The report page and its CSV exports (served inside the admin site, see `admin.py`): read, draw, answer."""

import csv
import io
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from config.exceptions import ApplicationError
from conversations.metrics import HANDOFF_REASONS, INTERCEPTION_TARGET, OUTCOME_BUCKETS
from conversations.reports import charts
from conversations.reports.formulas import FORMULAS
from conversations.reports.selectors import Report, ReportPeriod, report_build, report_period_parse
from conversations.reports.tables import OUTCOME_LABELS, REASON_LABELS, percent, report_tables
from kb.models import Store
from kb.selectors import store_list_for_user

OUTCOME_COLORS = dict(zip(OUTCOME_BUCKETS, ("#2e7d32", "#81c784", "#1565c0", "#bdbdbd", "#ef6c00"), strict=True))
SOURCE_COLORS = ("#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f")


def report_store(*, request: HttpRequest, slug: str) -> Store:
    """One of the user's stores; another store's report is "not found", never "forbidden"."""
    store = store_list_for_user(user=request.user).filter(slug=slug).first()
    if store is None:
        raise Http404
    return store


def period_from(request: HttpRequest, store: Store) -> ReportPeriod:
    q = request.GET
    return report_period_parse(
        store=store,
        period=q.get("period", ""),
        day=q.get("day", ""),
        start=q.get("start", ""),
        end=q.get("end", ""),
    )


def report_charts(report: Report) -> list[Any]:
    labels = [day.strftime("%m-%d") for day, _ in report.days]
    outcome_series = [
        charts.Series(str(OUTCOME_LABELS[b]), [d["outcomes"][b]["count"] for _, d in report.days], OUTCOME_COLORS[b])
        for b in OUTCOME_BUCKETS
    ]
    interception = [
        None if d["interception_rate"] is None else float(d["interception_rate"] * 100) for _, d in report.days
    ]
    sources = sorted({src for _, d in report.days for src in d["first_token_ms"]})
    token_series = []
    for i, src in enumerate(sources):
        color = SOURCE_COLORS[i % len(SOURCE_COLORS)]
        p50 = [d["first_token_ms"].get(src, {}).get("p50") for _, d in report.days]
        p95 = [d["first_token_ms"].get(src, {}).get("p95") for _, d in report.days]
        token_series += [charts.Series(f"{src} p50", p50, color), charts.Series(f"{src} p95", p95, color + "88")]
    reasons = [(str(REASON_LABELS[r]), report.summary["handoff"]["by_reason"][r]["count"]) for r in HANDOFF_REASONS]
    return [
        charts.stacked_bars(
            title=_("Outcomes per day"), labels=labels, series=outcome_series, chart_id="chart-outcomes"
        ),
        charts.lines(
            title=_("Interception rate per day (%)"),
            labels=labels,
            series=[charts.Series(_("Interception rate"), interception, "#1565c0")],
            chart_id="chart-interception",
            target=float(INTERCEPTION_TARGET * 100),
            target_label=_("target %(target)s%%") % {"target": int(INTERCEPTION_TARGET * 100)},
            top=100,
        ),
        charts.lines(
            title=_("First token per day (ms)"), labels=labels, series=token_series, chart_id="chart-first-token"
        ),
        charts.horizontal_bars(title=_("Handoffs by reason"), items=reasons, chart_id="chart-handoffs"),
    ]


def report_cards(report: Report) -> list[dict[str, Any]]:
    s = report.summary
    resolution = s["bot_resolution"]
    return [
        {"title": _("Conversations"), "value": s["conversations"], "formula": FORMULAS["conversations"]},
        {"title": _("In progress now"), "value": report.in_progress, "formula": FORMULAS["in_progress"]},
        {"title": _("Questions"), "value": s["questions"], "formula": FORMULAS["questions"]},
        {
            "title": _("Interception rate"),
            "value": percent(s["interception_rate"]),
            "note": _("target 70%"),
            "formula": FORMULAS["interception_rate"],
        },
        {
            "title": _("Bot resolved, confirmed"),
            "value": percent(resolution["confirmed"]),
            "formula": FORMULAS["bot_resolved_confirmed"],
        },
        {
            "title": _("Bot resolved, assumed"),
            "value": percent(resolution["assumed"]),
            "formula": FORMULAS["bot_resolved_assumed"],
        },
        {"title": _("Handoff rate"), "value": percent(s["handoff"]["rate"]), "formula": FORMULAS["handoff_rate"]},
        {
            "title": _("Satisfaction"),
            "value": "-" if s["csat"]["mean"] is None else f"{s['csat']['mean']} / 5",
            "note": _("%(count)s ratings") % {"count": s["csat"]["responses"]},
            "formula": FORMULAS["csat"],
        },
        {
            "title": _("Thumbs up / down"),
            "value": f"{s['thumbs']['up']} / {s['thumbs']['down']}",
            "formula": FORMULAS["thumbs"],
        },
        {
            "title": _("Human first response p50 / p90 (s)"),
            "value": f"{s['human_first_response_s']['p50'] or '-'} / {s['human_first_response_s']['p90'] or '-'}",
            "formula": FORMULAS["human_first_response"],
        },
        {
            "title": _("Handling time p50 / p90 (s)"),
            "value": f"{s['handling_s']['p50'] or '-'} / {s['handling_s']['p90'] or '-'}",
            "formula": FORMULAS["handling"],
        },
        {"title": _("Reopened"), "value": percent(s["reopened"]["rate"]), "formula": FORMULAS["reopened"]},
        {"title": _("Guardrail trips"), "value": s["guardrail_trips"], "formula": FORMULAS["guardrail_trips"]},
        {"title": _("Busy refusals"), "value": s["busy_refusals"], "formula": FORMULAS["busy_refusals"]},
    ]


def report_page(request: HttpRequest, slug: str, context: dict[str, Any]) -> TemplateResponse:
    store = report_store(request=request, slug=slug)
    context = {**context, "store": store, "stores": store_list_for_user(user=request.user), "query": request.GET}
    try:
        period = period_from(request, store)
    except ApplicationError as exc:
        return TemplateResponse(request, "reports/report.html", {**context, "error": exc.message}, status=400)
    report = report_build(store=store, period=period)
    context.update(
        report=report,
        period=period,
        cards=report_cards(report),
        charts=report_charts(report),
        tables=report_tables(report),
        outcome_formulas={OUTCOME_LABELS[b]: FORMULAS[b] for b in OUTCOME_BUCKETS},
        gaps=[(g, f"{reverse('admin:kb_faqentry_add')}?{g.faq_add_query(store)}") for g in report.gaps],
    )
    return TemplateResponse(request, "reports/report.html", context)


# A spreadsheet runs a cell that starts like a formula: a shopper's comment must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("%"))
    except ValueError:
        return False
    return True


def report_csv(request: HttpRequest, slug: str, table: str) -> HttpResponse:
    store = report_store(request=request, slug=slug)
    try:
        period = period_from(request, store)
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    found = next((t for t in report_tables(report_build(store=store, period=period)) if t.key == table), None)
    if found is None:
        raise Http404
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_cell(h) for h in found.headers])
    writer.writerows([[_cell(v) for v in row] for row in found.rows])
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"report-{store.slug}-{period.first}-{period.last}-{table}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
