"""API throttles: per client address for anonymous calls, per user for signed-in ones.

Counted on the Django cache (Redis in the scaled mode, so every server counts together). The rates
are read from the settings at each call, so `API_THROTTLE_ANON` / `API_THROTTLE_USER` are the one
place to change them.
"""

from django.conf import settings
from rest_framework import throttling


class AddressRateThrottle(throttling.AnonRateThrottle):
    """Anonymous calls (the token login among them), per client address."""

    def get_rate(self) -> str | None:
        return str(settings.API_THROTTLE_ANON) or None


class UserRateThrottle(throttling.UserRateThrottle):
    """Signed-in calls per user (anonymous ones per address, as above)."""

    def get_rate(self) -> str | None:
        return str(settings.API_THROTTLE_USER) or None
