"""How much a request may send, refused before it is read: a body above its route's limit
gets 413 with a Dutch message, whether it says its length (Content-Length) or streams it.

Limits come from the node's `[web]` config: `max_upload_bytes` for the import routes,
`max_body_bytes` for everything else (check routes: enough for the largest allowed check).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPLOAD_PATHS = frozenset({"/beheer/import", "/api/v1/import"})
CHECK_PATHS = frozenset({"/check", "/api/v1/checks"})
# One person of a check at its longest: 590 characters, each up to 6 bytes as JSON.
SUBJECT_BYTES = 4096


def size_text(limit: int) -> str:
    """A limit as a beheerder reads it: "20 MB", "64 KB"."""
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):.3g} MB"
    return f"{limit / 1024:.3g} KB"


class BodyTooLarge(Exception):
    """The request sent more than its route's limit; nothing of it is used."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body above {limit} bytes")
        self.limit = limit


class BodyLimit:
    """ASGI middleware: a declared length above the limit is refused before the app runs;
    a body that streams past it is cut off by the counting `receive` (BodyTooLarge)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int],
                 refuse: Callable[[Scope, int], Response]) -> None:
        self.app = app
        self.limit_for = limit_for
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self.refuse(scope, limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await self.refuse(scope, limit)(scope, receive, send)
