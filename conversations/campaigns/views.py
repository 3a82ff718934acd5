"""The reminder's restore link: records the click, then sends the shopper to their cart (or order)."""

from django.core import signing
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_GET

from conversations.campaigns.reminders import RESTORE_SALT
from conversations.campaigns.services import reminder_click_record

RESTORE_LINK_MAX_AGE = 30 * 24 * 3600  # seconds


@require_GET
def reminder_restore(request: HttpRequest, token: str) -> HttpResponseRedirect:
    try:
        data = signing.loads(token, salt=RESTORE_SALT, max_age=RESTORE_LINK_MAX_AGE)
    except signing.BadSignature:
        raise Http404("This link is not valid (any more).") from None
    target = reminder_click_record(message_id=int(data["m"]), now=timezone.now())
    if target is None:
        raise Http404("This reminder no longer exists.")
    return HttpResponseRedirect(target)
