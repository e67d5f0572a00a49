"""Trust on first use for Bambu printers' certificates.

The printer's leaf certificate (CN = serial, often X.509 v1 from a private CA that Python 3.13's
strict checks reject) is fetched once when the printer is added, and from then on exactly that
certificate is trusted: OpenSSL's partial-chain mode accepts it as its own trust anchor. A changed
certificate then fails the handshake before our credentials are ever sent. Everything here
blocks and belongs in an executor.
"""

from __future__ import annotations

import hashlib
import ssl

from ..errors import CertificateMismatchError, PrinterOfflineError


def fetch_certificate(host: str, port: int, timeout: float = 10.0) -> str:
    """The PEM certificate the printer presents, read without trusting it (first use only)."""
    try:
        return ssl.get_server_certificate((host, port), timeout=timeout)
    except (OSError, ssl.SSLError) as err:
        raise PrinterOfflineError(f"Cannot reach {host}:{port}: {err}") from err


def fingerprint(certificate_pem: str) -> str:
    """SHA-256 of the DER certificate as colon-separated hex, as shown to the user."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(certificate_pem)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def pinned_context(certificate_pem: str) -> ssl.SSLContext:
    """A client context that trusts this one certificate and nothing else."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_flags = ssl.VERIFY_X509_PARTIAL_CHAIN
    try:
        context.load_verify_locations(cadata=certificate_pem)
    except (ssl.SSLError, ValueError) as err:
        raise CertificateMismatchError("The stored printer certificate is unreadable") from err
    return context
