"""Home Assistant's own APIs as the frontend uses them: onboarding, login, flows, websocket.

Nothing here writes to `.storage`; every change goes through the same endpoints a user's
browser would call, so the demo exercises the real config and options flows.
"""

from __future__ import annotations

from collections.abc import Mapping
import itertools
from types import TracebackType
from typing import Any, Self

import aiohttp


class HomeAssistantError(Exception):
    """An API call answered with something other than what the step expects."""


class HomeAssistant:
    """A logged-in session against one Home Assistant instance."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = f"{self.base_url}/"
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the websocket and the HTTP session."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def _http(self) -> aiohttp.ClientSession:
        """Made on first use, inside the running loop."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self._session

    # -- REST --------------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None
    ) -> Any:
        """JSON in, JSON out; a status of 400 or more raises with HA's message."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        async with self._http.request(
            method, self.base_url + path, json=payload, headers=headers
        ) as response:
            body = await response.text()
            if response.status >= 400:
                raise HomeAssistantError(f"{method} {path}: {response.status} {body[:500]}")
            return await response.json() if body else None

    async def onboarding_pending(self) -> list[str]:
        """The onboarding steps not done yet (empty once HA is set up)."""
        steps = await self.request("GET", "/api/onboarding")
        return [step["step"] for step in steps if not step["done"]]

    async def onboard(self, name: str, username: str, password: str) -> None:
        """Walk HA's onboarding: owner account, location, analytics, integrations step."""
        pending = await self.onboarding_pending()
        if "user" in pending:
            await self.request(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": self.client_id, "name": name, "username": username,
                    "password": password, "language": "en",
                },
            )  # fmt: skip
        await self.login(username, password)
        if "core_config" in pending:
            await self.request("POST", "/api/onboarding/core_config")
        if "analytics" in pending:
            await self.request("POST", "/api/onboarding/analytics")
        if "integration" in pending:
            redirect = {"client_id": self.client_id, "redirect_uri": self.client_id}
            await self.request("POST", "/api/onboarding/integration", redirect)

    async def login(self, username: str, password: str) -> None:
        """The login form's flow, then the code for a token (as the frontend does)."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id, "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
        )  # fmt: skip
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"login refused: {result.get('errors')}")
        form = {"grant_type": "authorization_code", "code": result["result"]}
        form["client_id"] = self.client_id
        async with self._http.post(f"{self.base_url}/auth/token", data=form) as response:
            if response.status != 200:
                raise HomeAssistantError(f"token: {response.status} {await response.text()}")
            self._token = (await response.json())["access_token"]

    async def flow(self, path: str, start: Mapping[str, Any], *steps: Mapping[str, Any]) -> Any:
        """Start a data entry flow at `path` and answer its steps in order; the last result.

        A step that comes back with errors raises: the flow would show the form again.
        """
        result = await self.request("POST", path, start)
        for answer in steps:
            if result.get("type") not in ("form", "menu"):
                raise HomeAssistantError(f"{path}: flow ended early: {result}")
            result = await self.request("POST", f"{path}/{result['flow_id']}", answer)
            if result.get("errors"):
                raise HomeAssistantError(f"{path} step {result['step_id']}: {result['errors']}")
        return result

    # -- websocket ---------------------------------------------------------------------------

    async def ws(self, message_type: str, **payload: Any) -> Any:
        """One websocket command's result."""
        ws = await self._websocket()
        message_id = next(self._ids)
        await ws.send_json({"id": message_id, "type": message_type, **payload})
        while True:
            reply = await ws.receive_json()
            if reply.get("id") == message_id and reply.get("type") == "result":
                if not reply["success"]:
                    raise HomeAssistantError(f"{message_type}: {reply['error']}")
                return reply["result"]

    async def _websocket(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None:
            ws = await self._http.ws_connect(f"{self.base_url}/api/websocket")
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self._token})
            reply = await ws.receive_json()
            if reply.get("type") != "auth_ok":
                await ws.close()
                raise HomeAssistantError(f"websocket auth: {reply}")
            self._ws = ws
        return self._ws
