"""What both websockets share: reading JSON frames safely, and answering bad ones with an error frame."""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

# Room for a maximal message even with every character JSON-escaped; anything bigger is not a chat.
MAX_FRAME_CHARS = 64 * 1024


class FrameConsumer(AsyncJsonWebsocketConsumer):
    """A JSON websocket that answers an oversized, binary or malformed frame with an error frame and stays open."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self._error("That frame is too large or not text; nothing was saved.")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self._error("That frame is not valid JSON; nothing was saved.")
            return
        if not isinstance(content, dict):
            await self._error("Send a JSON object with a type.")
            return
        await self.receive_json(content)

    async def _error(self, message: str, *, code: str = "bad_frame") -> None:
        raise NotImplementedError
