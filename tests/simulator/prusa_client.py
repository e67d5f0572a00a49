"""A tiny hand-written digest client for the simulator tests (both challenge styles)."""

from __future__ import annotations

from dataclasses import dataclass, field
import hashlib
import re
from typing import Any

import aiohttp

from simulator.prusa import PrusaSimulator

TIMEOUT = 5.0
CNONCE = "0a4f113b"
_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^\s,]+))')


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_challenge(header: str) -> dict[str, str]:
    """Parameters of a WWW-Authenticate Digest challenge."""
    assert header.startswith("Digest "), header
    return {name: quoted or bare for name, quoted, bare in _PARAM.findall(header)}


def authorization(
    challenge: dict[str, str],
    method: str,
    uri: str,
    *,
    username: str,
    password: str,
    nc: int = 1,
    algorithm: str | None = None,
) -> str:
    """An Authorization header: RFC 2069 style without qop, RFC 2617 MD5-sess with it."""
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    fields = {"username": username, "realm": realm, "nonce": nonce, "uri": uri}
    if "qop" not in challenge:
        fields["response"] = md5(f"{ha1}:{nonce}:{ha2}")
        return "Digest " + ", ".join(f'{k}="{v}"' for k, v in fields.items())
    count = f"{nc:08x}"
    if challenge.get("algorithm") == "MD5-sess":
        ha1 = md5(f"{ha1}:{nonce}:{CNONCE}")
    response = md5(f"{ha1}:{nonce}:{count}:{CNONCE}:auth:{ha2}")
    fields |= {"response": response, "opaque": challenge["opaque"], "cnonce": CNONCE}
    fields["algorithm"] = algorithm or challenge["algorithm"]
    quoted = ", ".join(f'{k}="{v}"' for k, v in fields.items())
    return f"Digest {quoted}, qop=auth, nc={count}"  # qop and nc unquoted, as RFC 2617 has them


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    @property
    def challenge(self) -> dict[str, str]:
        return parse_challenge(self.headers["WWW-Authenticate"])


@dataclass
class DigestClient:
    """Preemptive digest: reuse the last nonce, retry once on any 401 with the new challenge."""

    session: aiohttp.ClientSession
    sim: PrusaSimulator
    username: str | None = None
    password: str | None = None
    user_agent: str = "printernizer-tests/1.0"
    challenge: dict[str, str] | None = None
    nc: int = 0
    sent: list[int] = field(default_factory=list)

    async def raw(self, method: str, path: str, **kwargs: Any) -> Reply:
        headers = {"User-Agent": self.user_agent} | kwargs.pop("headers", {})
        async with self.session.request(
            method, self.sim.base_url + path, headers=headers, **kwargs
        ) as response:
            return Reply(response.status, response.headers, await response.read())

    def _auth(self, method: str, path: str) -> dict[str, str]:
        if self.challenge is None:
            return {}
        self.nc += 1
        header = authorization(
            self.challenge, method, path, nc=self.nc,
            username=self.username or self.sim.username,
            password=self.password if self.password is not None else self.sim.password,
        )  # fmt: skip
        return {"Authorization": header}

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        headers = kwargs.pop("headers", {})
        reply = await self.raw(method, path, headers=headers | self._auth(method, path), **kwargs)
        self.sent.append(reply.status)
        if reply.status == 401 and "Digest" in reply.headers.get("WWW-Authenticate", ""):
            self.challenge, self.nc = reply.challenge, 0
            auth = self._auth(method, path)
            reply = await self.raw(method, path, headers=headers | auth, **kwargs)
            self.sent.append(reply.status)
        return reply

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)
