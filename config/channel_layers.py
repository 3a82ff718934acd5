"""The embedded mode's channel layer: channels' in-memory layer, cleaning expired messages less often."""

import time

from channels import layers


class InMemoryChannelLayer(layers.InMemoryChannelLayer):
    """channels' in-memory layer, walking its channels for expired messages at most once a second.

    channels walks every channel of the process on every send, group send and receive: with 1,000
    shoppers connected, each answer (a few sends, each waking one receive) paid for thousands of
    channel visits. Messages expire after a minute, so a second's delay in dropping one changes nothing.
    """

    CLEAN_EVERY = 1.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._cleaned_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._cleaned_at < self.CLEAN_EVERY:
            return
        self._cleaned_at = now
        super()._clean_expired()
