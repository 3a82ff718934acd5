from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kb.models import Store


class DailyFigures(models.Model):
    """One store's figures of one day (in the store's time zone), as `metrics.DayFigures` ids.

    Written by the `reports.daily_figures_refresh` task and recomputed while late data can still arrive;
    the report reads these rows for past days and computes today live.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+", verbose_name=_("store"))
    day = models.DateField(_("day"))
    figures = models.JSONField(_("figures"), default=dict)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        ordering = ["store", "day"]
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        constraints = [models.UniqueConstraint(fields=["store", "day"], name="daily_figures_one_per_store_day")]

    def __str__(self) -> str:
        return f"{self.store.slug} {self.day}"
