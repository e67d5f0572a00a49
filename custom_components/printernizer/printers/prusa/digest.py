"""HTTP Digest authentication the way both PrusaLink servers accept it.

Neither aiohttp 3.11 (no digest at all) nor later aiohttp (upper-cases `MD5-sess`, sends
unquoted values) talks to every Prusa printer, so the header is built here:

- Buddy firmware offers RFC 2069 digest (realm "Printer API", no qop, no algorithm): the
  response is H(HA1:nonce:HA2) and the header must carry no qop/nc/cnonce/algorithm.
- Prusa-Link on a Pi (PoorWSGI) offers `algorithm="MD5-sess"`, `qop="auth"` and an opaque, and
  compares the algorithm and opaque byte for byte, so both are echoed exactly as offered.
- Every value is quoted: Buddy firmware before 5.2.0 never answers a header with an unquoted
  value, and PoorWSGI accepts quoted `qop`/`nc` as well.

The header is sent preemptively with the last nonce (nc counting up where qop applies), which
halves the round trips; the caller retries once when the server says the nonce went stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import hashlib
import re
import secrets
from typing import Final

_TCHARS: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# One auth-param (`name=value`, the value a quoted string or a bare run up to the next comma)
# or a bare token, which starts a new challenge (the scheme).
_ITEM: Final = re.compile(
    rf'\s*,?\s*(?:(?P<name>{_TCHARS})\s*=\s*(?P<value>"(?:[^"\\]|\\.)*"|[^\s,]*)'
    rf"|(?P<scheme>{_TCHARS}))"
)
_ESCAPED: Final = re.compile(r"\\(.)")
_PRINTABLE_ASCII: Final = re.compile(r"[ -~]*")
# Nonces are 16-64 characters on both servers; anything this long is not a real challenge.
_MAX_VALUE: Final = 1024
_HASHES: Final = {"md5": "md5", "sha-256": "sha256", "sha-512-256": "sha512_256"}


class UnsupportedChallengeError(ValueError):
    """The server asked for a digest variant we cannot compute (auth-int, unknown hash)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """One `WWW-Authenticate: Digest ...` challenge; `algorithm` keeps the server's spelling."""

    realm: str
    nonce: str
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """Split one WWW-Authenticate value into (scheme, params) pairs; names are lower-cased."""
    challenges: list[tuple[str, dict[str, str]]] = []
    position = 0
    while position < len(header):
        match = _ITEM.match(header, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        if match.group("scheme"):
            challenges.append((match.group("scheme"), {}))
        elif challenges:
            value = match.group("value")
            if value.startswith('"'):
                value = _ESCAPED.sub(r"\1", value[1:-1])
            challenges[-1][1][match.group("name").lower()] = value
    return challenges


def digest_challenge(headers: Iterable[str]) -> Challenge | None:
    """The first Digest challenge we can answer among the WWW-Authenticate values, or None.

    Raises UnsupportedChallengeError when Digest is offered only in forms we cannot answer (an
    unknown hash, auth-int, values that are not short printable ASCII): a stored challenge is
    used for every later request, so an unusable one must never be stored.
    """
    refused: str | None = None
    for header in headers:
        for scheme, params in parse_challenges(header):
            if scheme.lower() != "digest" or "nonce" not in params:
                continue
            qop = params.get("qop")
            challenge = Challenge(
                realm=params.get("realm", ""),
                nonce=params["nonce"],
                algorithm=params.get("algorithm"),
                qop=tuple(item.strip() for item in qop.split(",") if item.strip()) if qop else (),
                opaque=params.get("opaque"),
                stale=params.get("stale", "").lower() == "true",
            )
            if (problem := _unanswerable(challenge)) is None:
                return challenge
            refused = refused or problem
    if refused is not None:
        raise UnsupportedChallengeError(refused)
    return None


def _unanswerable(challenge: Challenge) -> str | None:
    """Why we cannot answer a challenge (safe to log), or None."""
    values = (challenge.realm, challenge.nonce, challenge.opaque or "", challenge.algorithm or "")
    if any(len(value) > _MAX_VALUE or not _PRINTABLE_ASCII.fullmatch(value) for value in values):
        return "a malformed digest challenge"
    if (challenge.algorithm or "MD5").lower().removesuffix("-sess") not in _HASHES:
        return f"digest algorithm {challenge.algorithm}"
    if challenge.qop and "auth" not in challenge.qop:
        return "digest qop " + ",".join(challenge.qop)
    return None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def compute_response(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The `response` value per RFC 2617 (RFC 2069 when the server offered no qop).

    Raises UnsupportedChallengeError for an unknown algorithm or a qop other than `auth`.
    """
    algorithm = (challenge.algorithm or "MD5").lower()
    session = algorithm.endswith("-sess")
    name = _HASHES.get(algorithm.removesuffix("-sess"))
    if name is None:
        raise UnsupportedChallengeError(f"digest algorithm {challenge.algorithm}")

    def digest(data: str) -> str:
        return hashlib.new(name, data.encode(), usedforsecurity=False).hexdigest()

    ha1 = digest(f"{username}:{challenge.realm}:{password}")
    if session:
        ha1 = digest(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = digest(f"{method}:{uri}")
    if challenge.qop:
        if "auth" not in challenge.qop:
            raise UnsupportedChallengeError(f"digest qop {','.join(challenge.qop)}")
        return digest(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:auth:{ha2}")
    return digest(f"{ha1}:{challenge.nonce}:{ha2}")


class DigestAuth:
    """Preemptive digest credentials for one printer: remembers the nonce and counts nc."""

    def __init__(self, username: str, password: str) -> None:
        """Nothing is sent before the server's first challenge."""
        self._username = username
        self._password = password
        self.challenge: Challenge | None = None
        self._nc = 0
        self._cnonce = ""

    def __repr__(self) -> str:
        """Never show the password."""
        return f"DigestAuth(username={self._username!r})"

    def learn(self, challenge: Challenge) -> None:
        """Take a new challenge; its nonce starts a fresh nc count and cnonce."""
        self.challenge = challenge
        self._nc = 0
        self._cnonce = secrets.token_hex(8)

    def header(self, method: str, uri: str) -> str | None:
        """The Authorization value for a request, or None before the first challenge.

        `uri` is the exact request target, query string included: Buddy hashes its request
        line and ignores the header's uri field.
        """
        challenge = self.challenge
        if challenge is None:
            return None
        nc: str | None = None
        cnonce: str | None = None
        session = (challenge.algorithm or "").lower().endswith("-sess")
        if challenge.qop or session:
            cnonce = self._cnonce
        if challenge.qop:
            self._nc += 1
            nc = f"{self._nc:08x}"
        response = compute_response(
            challenge,
            username=self._username,
            password=self._password,
            method=method,
            uri=uri,
            nc=nc,
            cnonce=cnonce,
        )
        fields = [
            ("username", self._username),
            ("realm", challenge.realm),
            ("nonce", challenge.nonce),
            ("uri", uri),
            ("response", response),
        ]
        if challenge.algorithm is not None:
            fields.append(("algorithm", challenge.algorithm))
        if challenge.qop:
            fields.append(("qop", "auth"))
            fields.append(("nc", nc or ""))
        if cnonce is not None:
            fields.append(("cnonce", cnonce))
        if challenge.opaque is not None:
            fields.append(("opaque", challenge.opaque))
        return "Digest " + ", ".join(f"{name}={_quote(value)}" for name, value in fields)
