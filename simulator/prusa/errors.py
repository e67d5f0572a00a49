r"""Error replies in each firmware's own shape.

Buddy: JSON `{"title": "409: Conflict","message":"<detail>"}` (that exact spacing: a 401 is 43
bytes) only when the FIRST Accept value is exactly application/json, otherwise text/plain
`409: Conflict\n\n<detail>\n` (a 401 is 20 bytes). Error replies to requests that carry a body
close the connection.

Pi: JSON {title, message[, url]} with a Content-Location header pointing at an HTML error page
when the client accepts JSON, otherwise text "title\nmessage" (+ "\n\nSee: url").
"""

from __future__ import annotations

from http import HTTPStatus
import json

from aiohttp import web

_PHRASES = {422: "Unprocessable Entity", 413: "Request Entity Too Large"}


class Problem(Exception):
    """An error reply; `title`/`slug` only matter on the Pi (slug names its error page)."""

    def __init__(
        self, status: int, message: str = "", *, title: str | None = None, slug: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.title, self.slug = status, message, title, slug


def phrase(status: int) -> str:
    """The reason phrase the firmware prints."""
    return _PHRASES.get(status) or HTTPStatus(status).phrase


def buddy_response(problem: Problem, request: web.Request) -> web.Response:
    """Buddy's status page."""
    title = f"{problem.status}: {phrase(problem.status)}"
    first_accept = request.headers.get("Accept", "").split(",")[0].strip()
    if first_accept == "application/json":
        body = f'{{"title": {json.dumps(title)},"message":{json.dumps(problem.message)}}}'
        response = web.Response(status=problem.status, text=body, content_type="application/json")
    else:
        text = f"{title}\n\n{problem.message}\n"
        response = web.Response(status=problem.status, text=text, content_type="text/plain")
    if request.method in ("PUT", "POST") or request.body_exists:
        response.force_close()
    return response


def pi_response(problem: Problem, request: web.Request) -> web.Response:
    """PrusaLink's LinkError reply."""
    title = problem.title or phrase(problem.status)
    headers: dict[str, str] = {}
    url = ""
    if problem.slug:
        url = f"{request.scheme}://{request.host}/error/{problem.slug}"
        headers["Content-Location"] = url
    if "application/json" in request.headers.get("Accept", ""):
        body: dict[str, str] = {"title": title, "message": problem.message}
        if url:
            body["url"] = url
        return web.json_response(body, status=problem.status, headers=headers)
    text = f"{title}\n{problem.message}" + (f"\n\nSee: {url}" if url else "")
    return web.Response(status=problem.status, text=text, headers=headers)
