"""HTTP Digest and X-Api-Key exactly as each firmware checks them, quirks included.

Buddy (realm "Printer API"): RFC 2069 digest without qop; HA1 always uses the user `maker`;
HA2 hashes the method and the real request target (the `uri` field is ignored); 16-hex nonces;
an expired nonce with a correct digest gets `stale=true`; X-Api-Key carries the same password.
Firmware up to 5.1.x never answers a Basic header or a digest header with an unquoted value:
`Verdict.hang` tells the server to keep quiet.

Pi (PrusaLink, realm "Administrator"): `algorithm="MD5-sess"` compared case-sensitively,
qop="auth", opaque; nonces are bound to the User-Agent and valid for one to two `ttl` periods;
a nonce that is not valid gets `stale=true` before the password is even looked at. A separate
API key; a wrong one is a plain 403 "Bad X-Api-Key.".

Nonce lifetimes run on real time (clients time out in real time), not the printer clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import hashlib
import hmac
import re
import secrets
import time

_PARAM = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the server does with a request's credentials."""

    ok: bool
    status: int = 200
    challenge: str | None = None  # WWW-Authenticate value
    hang: bool = False  # never answer (Buddy <= 5.1.x on Basic or unquoted values)
    body: str | None = None  # a fixed plain-text body instead of the usual error page


OK = Verdict(ok=True)
HANG = Verdict(ok=False, status=0, hang=True)


def md5(text: str) -> str:
    """Hex MD5, the digest hash of both firmwares."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def parse_digest(value: str) -> tuple[dict[str, str], bool]:
    """Digest parameters, and whether every value was quoted."""
    params: dict[str, str] = {}
    quoted = True
    for match in _PARAM.finditer(value):
        name, in_quotes, bare = match.groups()
        if in_quotes is None:
            quoted = False
        params[name.lower()] = bare if in_quotes is None else in_quotes
    return params, quoted


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class BuddyAuth:
    """Buddy firmware's digest: no qop, user `maker`, 300 s nonces by default."""

    realm = "Printer API"

    def __init__(self, password: str, *, ttl: float = 300.0) -> None:
        self.password, self.ttl = password, ttl
        self._boot = secrets.randbits(32)
        self._started = time.monotonic()
        self._issued: dict[str, float] = {}
        self._counter = 0

    def _nonce(self) -> str:
        """32 bits per boot + 32 bits uptime, bumped so no nonce outlives expire_nonces()."""
        now = time.monotonic()
        self._counter = max(self._counter, int(now - self._started))
        nonce = f"{self._boot:08x}{self._counter & 0xFFFFFFFF:08x}"
        self._issued[nonce] = now  # handing out the same second's nonce again renews it
        if len(self._issued) > 4096:  # forget nonces long expired
            self._issued = {n: t for n, t in self._issued.items() if now - t <= self.ttl}
        return nonce

    def challenge(self, *, stale: bool = False) -> Verdict:
        """401 with exactly the header the firmware sends."""
        flag = "true" if stale else "false"
        header = f'Digest realm="{self.realm}", nonce="{self._nonce()}", stale={flag}'
        return Verdict(ok=False, status=401, challenge=header)

    def expire_nonces(self) -> None:
        """Every nonce handed out so far becomes stale."""
        self._issued.clear()
        self._counter += 1

    def check(self, method: str, target: str, headers: Mapping[str, str]) -> Verdict:
        """Judge one request; `target` is the raw request target (path and query)."""
        key = headers.get("X-Api-Key")
        if key is not None:
            if self.password and _same(key, self.password):
                return OK
            return Verdict(ok=False, status=401, challenge=f'ApiKey realm="{self.realm}"')
        header = headers.get("Authorization")
        if header is None:
            return self.challenge()
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() == "basic":
            return HANG
        if scheme.lower() != "digest":
            return self.challenge()
        params, quoted = parse_digest(rest)
        if not quoted:
            return HANG
        nonce = params.get("nonce", "")
        ha1 = md5(f"maker:{self.realm}:{self.password}")
        expected = md5(f"{ha1}:{nonce}:{md5(f'{method}:{target}')}")
        if not self.password or not _same(params.get("response", ""), expected):
            return self.challenge()
        issued = self._issued.get(nonce)
        if issued is None or time.monotonic() - issued > self.ttl:
            return self.challenge(stale=True)
        return OK


class PiAuth:
    """PrusaLink's digest (PoorWSGI): MD5-sess, qop auth, opaque, User-Agent bound nonces."""

    realm = "Administrator"
    algorithm = "MD5-sess"

    def __init__(self, username: str, password: str, api_key: str, *, ttl: float = 60.0) -> None:
        self.username, self.password, self.api_key, self.ttl = username, password, api_key, ttl
        self._secret = secrets.token_hex(16)
        self.opaque = secrets.token_hex(16)

    def _nonce(self, user_agent: str, period: int) -> str:
        return hashlib.sha256(f"{self._secret}:{period}:{user_agent}".encode()).hexdigest()

    def _period(self) -> int:
        return int(time.monotonic() / self.ttl)

    def _valid(self, nonce: str, user_agent: str) -> bool:
        now = self._period()
        return any(_same(nonce, self._nonce(user_agent, p)) for p in (now, now - 1))

    def challenge(self, user_agent: str, *, stale: bool = False) -> Verdict:
        """401 with qop, algorithm and opaque; `stale=true` only when stale."""
        header = (
            f'Digest realm="{self.realm}", qop="auth", algorithm="{self.algorithm}", '
            f'nonce="{self._nonce(user_agent, self._period())}", opaque="{self.opaque}"'
        )
        return Verdict(ok=False, status=401, challenge=header + (", stale=true" if stale else ""))

    def expire_nonces(self) -> None:
        """Every nonce handed out so far becomes stale."""
        self._secret = secrets.token_hex(16)

    def check(self, method: str, target: str, headers: Mapping[str, str]) -> Verdict:
        """Judge one request; `target` is the raw request target (path and query)."""
        key = headers.get("X-Api-Key")
        if key is not None:
            if self.api_key and _same(key, self.api_key):  # no key set: no key is right
                return OK
            return Verdict(ok=False, status=403, body="Bad X-Api-Key.")
        user_agent = headers.get("User-Agent", "")
        header = headers.get("Authorization")
        scheme, _, rest = (header or "").strip().partition(" ")
        if scheme.lower() != "digest":
            return self.challenge(user_agent)
        params, _quoted = parse_digest(rest)
        nonce = params.get("nonce", "")
        if not self._valid(nonce, user_agent):
            return self.challenge(user_agent, stale=True)  # even with a wrong password
        expected_fields = {
            "username": self.username, "realm": self.realm, "algorithm": self.algorithm,
            "qop": "auth", "opaque": self.opaque, "uri": target,
        }  # fmt: skip
        if any(params.get(name) != value for name, value in expected_fields.items()):
            return self.challenge(user_agent)
        nc, cnonce = params.get("nc", ""), params.get("cnonce", "")
        ha1 = md5(f"{md5(f'{self.username}:{self.realm}:{self.password}')}:{nonce}:{cnonce}")
        expected = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{md5(f'{method}:{target}')}")
        if not cnonce or not _same(params.get("response", ""), expected):
            return self.challenge(user_agent)
        return OK
