"""Injected misbehaviour: a slow, overloaded or half-broken printer on demand.

Counters apply to the next N requests in arrival order. `status_503` and `hang` are taken by any
request; `truncate` only by responses that have a body, `non_json` only by JSON responses, so a
204 in between does not use them up. `latency` stays until set back to 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

NON_JSON_BODY = b"<html><body><h1>502 Bad Gateway</h1>lwIP ran out of buffers</body></html>\n"


@dataclass(slots=True)
class Faults:
    """What to do to upcoming requests."""

    latency: float = 0.0  # real seconds added before every answer
    status_503: int = 0
    hang: int = 0
    truncate: int = 0
    non_json: int = 0

    def take(self, name: str) -> bool:
        """Use up one of a counter; False if it is at 0."""
        left = int(getattr(self, name))
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        return True


def body_of(response: web.StreamResponse) -> bytes:
    """A plain response's body (b"" for streamed ones)."""
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        return response.body
    return b""


async def spoil(
    faults: Faults, request: web.Request, response: web.StreamResponse
) -> web.StreamResponse:
    """Apply pending non_json/truncate faults to a response that is about to go out."""
    body = body_of(response)
    if not body:
        return response
    if (response.content_type == "application/json") and faults.take("non_json"):
        assert isinstance(response, web.Response)
        response.body = NON_JSON_BODY  # the header still claims JSON
        body = NON_JSON_BODY
    if not faults.take("truncate"):
        return response
    cut = web.StreamResponse(status=response.status, headers=response.headers)
    cut.content_length = len(body)
    await cut.prepare(request)
    await cut.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()  # flushes the half body, then the client sees EOF
    return cut
