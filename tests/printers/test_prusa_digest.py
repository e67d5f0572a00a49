"""Digest math and headers against hand-computed RFC 2069 / RFC 2617 values."""

from __future__ import annotations

import hashlib
import re

import pytest

from custom_components.printernizer.printers.prusa.digest import (
    Challenge,
    DigestAuth,
    UnsupportedChallengeError,
    compute_response,
    digest_challenge,
    parse_challenges,
)


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def fields(header: str) -> dict[str, str]:
    """Authorization params; asserts every value is quoted (old Buddy hangs otherwise)."""
    assert header.startswith("Digest ")
    pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\s]*)', header[7:])
    for name, value in pairs:
        assert value.startswith('"'), f"{name} is not quoted"
    return {name: value[1:-1] for name, value in pairs}


def test_rfc2617_published_example() -> None:
    challenge = Challenge(
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop=("auth", "auth-int"),
        opaque="5ccc069c403ebaf9f0171e9517f40e41",
    )
    response = compute_response(
        challenge,
        username="Mufasa",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_rfc2069_without_qop() -> None:
    """Buddy: response = MD5(HA1:nonce:HA2); the RFC 2069 example (errata value)."""
    challenge = Challenge(realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093")
    response = compute_response(
        challenge, username="Mufasa", password="CircleOfLife", method="GET", uri="/dir/index.html"
    )
    ha1 = md5("Mufasa:testrealm@host.com:CircleOfLife")
    ha2 = md5("GET:/dir/index.html")
    assert response == md5(f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}")
    assert response == "1949323746fe6a43ef61f9606e7febea"


def test_buddy_header_has_no_qop_fields() -> None:
    auth = DigestAuth("maker", "secretpass12")
    assert auth.header("GET", "/api/v1/status") is None
    auth.learn(
        digest_challenge(['Digest realm="Printer API", nonce="0123456789abcdef", stale=false'])
        or pytest.fail("no challenge")
    )
    header = auth.header("GET", "/api/v1/files/usb/?x=1")
    assert header is not None
    values = fields(header)
    assert set(values) == {"username", "realm", "nonce", "uri", "response"}
    ha1 = md5("maker:Printer API:secretpass12")
    ha2 = md5("GET:/api/v1/files/usb/?x=1")
    assert values["response"] == md5(f"{ha1}:0123456789abcdef:{ha2}")
    assert values["uri"] == "/api/v1/files/usb/?x=1"


def test_pi_md5_sess_echoed_exactly_with_counting_nc() -> None:
    offered = (
        'Digest realm="Administrator", nonce="tok/en==", qop="auth", '
        'algorithm="MD5-sess", opaque="abc123", stale=true'
    )
    challenge = digest_challenge([offered])
    assert challenge == Challenge(
        realm="Administrator",
        nonce="tok/en==",
        algorithm="MD5-sess",
        qop=("auth",),
        opaque="abc123",
        stale=True,
    )
    auth = DigestAuth("maker", "pw")
    auth.learn(challenge)
    first = fields(auth.header("PUT", "/api/v1/job/3/pause") or "")
    second = fields(auth.header("GET", "/api/v1/status") or "")
    assert first["algorithm"] == "MD5-sess"  # not MD5-SESS: PoorWSGI compares verbatim
    assert first["opaque"] == "abc123"
    assert (first["qop"], first["nc"], second["nc"]) == ("auth", "00000001", "00000002")
    assert first["cnonce"] == second["cnonce"]
    ha1 = md5(f"{md5('maker:Administrator:pw')}:tok/en==:{first['cnonce']}")
    ha2 = md5("PUT:/api/v1/job/3/pause")
    assert first["response"] == md5(f"{ha1}:tok/en==:00000001:{first['cnonce']}:auth:{ha2}")
    # A new nonce restarts the count.
    auth.learn(Challenge(realm="Administrator", nonce="n2", algorithm="MD5-sess", qop=("auth",)))
    assert fields(auth.header("GET", "/") or "")["nc"] == "00000001"


def test_parse_challenges_several_schemes_and_escapes() -> None:
    parsed = parse_challenges(
        'ApiKey realm="Printer API", Digest realm="a \\"b\\"", nonce=abc, stale=TRUE'
    )
    assert parsed == [
        ("ApiKey", {"realm": "Printer API"}),
        ("Digest", {"realm": 'a "b"', "nonce": "abc", "stale": "TRUE"}),
    ]
    challenge = digest_challenge(["ApiKey realm=x", parsed and 'Digest nonce="n", realm="r"'])
    assert challenge is not None
    assert challenge.nonce == "n"
    assert digest_challenge(['ApiKey realm="Printer API"']) is None
    assert digest_challenge(['Digest realm="no nonce"']) is None


def test_quotes_inside_values_are_escaped() -> None:
    auth = DigestAuth('ma"ker', "x")
    auth.learn(Challenge(realm="r", nonce="n"))
    assert 'username="ma\\"ker"' in (auth.header("GET", "/") or "")


def test_unsupported_variants() -> None:
    with pytest.raises(UnsupportedChallengeError):
        compute_response(
            Challenge(realm="r", nonce="n", qop=("auth-int",)),
            username="u",
            password="p",
            method="GET",
            uri="/",
            nc="00000001",
            cnonce="c",
        )
    with pytest.raises(UnsupportedChallengeError):
        compute_response(
            Challenge(realm="r", nonce="n", algorithm="SHA-1"),
            username="u",
            password="p",
            method="GET",
            uri="/",
        )


def test_sha256_supported() -> None:
    challenge = Challenge(realm="r", nonce="n", algorithm="SHA-256")
    sha = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
    expected = sha(f"{sha('u:r:p')}:n:{sha('GET:/')}")
    assert compute_response(challenge, username="u", password="p", method="GET", uri="/") == (
        expected
    )


def test_repr_hides_password() -> None:
    assert "secret" not in repr(DigestAuth("maker", "secret"))
