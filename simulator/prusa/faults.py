"""Injected misbehaviour: a slow, overloaded, half-broken or hostile printer on demand.

Counters apply to the next N requests in arrival order. `status_503` and `hang` are taken by any
request; `truncate` only by responses that have a body, `non_json` only by JSON responses, so a
204 in between does not use them up. `latency` stays until set back to 0.

`serve(path, body, times=N)` is the generic hook: the next N authenticated requests for exactly
that path (decoded or as sent, query ignored) get `body` instead of the real reply, whatever the
route (one entry per path; serving a path again replaces it). A body given as bytes goes out
verbatim (nesting deeper than any encoder allows, invalid UTF-8, `Infinity`); anything else is
JSON-encoded with `NaN`/`Infinity` literals allowed and lone surrogates escaped, as a careless
firmware would. Canned replies still pass through `truncate`/`non_json`, and the request is
recorded with `canned=True`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from typing import Any

from aiohttp import web

NON_JSON_BODY = b"<html><body><h1>502 Bad Gateway</h1>lwIP ran out of buffers</body></html>\n"


@dataclass(slots=True)
class Canned:
    """A reply served in place of the real one, `times` more times."""

    body: bytes
    times: int
    status: int = 200
    content_type: str = "application/json"

    def response(self) -> web.Response:
        """A fresh response carrying the canned body."""
        return web.Response(body=self.body, status=self.status, content_type=self.content_type)


@dataclass(slots=True)
class Faults:
    """What to do to upcoming requests."""

    latency: float = 0.0  # real seconds added before every answer
    status_503: int = 0
    hang: int = 0
    truncate: int = 0
    non_json: int = 0
    canned: dict[str, Canned] = field(default_factory=dict)  # path -> reply, see serve()

    def take(self, name: str) -> bool:
        """Use up one of a counter; False if it is at 0."""
        left = int(getattr(self, name))
        if left <= 0:
            return False
        setattr(self, name, left - 1)
        return True

    def serve(
        self,
        path: str,
        body: Any,
        *,
        times: int = 1,
        status: int = 200,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next `times` requests for `path` with `body` (see the module docstring)."""
        if not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":"), allow_nan=True).encode()
        if times > 0:
            self.canned[path] = Canned(body, times, status, content_type)
        else:
            self.canned.pop(path, None)

    def take_canned(self, *paths: str) -> web.Response | None:
        """The canned reply for the first of `paths` that has one, using up one of its `times`."""
        path = next((path for path in paths if path in self.canned), None)
        if path is None:
            return None
        canned = self.canned[path]
        canned.times -= 1
        if canned.times <= 0:
            del self.canned[path]
        return canned.response()


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
