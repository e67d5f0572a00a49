"""A simulator CA and printer leaf certificates shaped like Bambu's.

Real leaves carry CN = serial, no subjectAltName and no keyUsage, issued by a private CA; that
is what makes hostname checks and Python's strict X.509 mode fail against real printers.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
from pathlib import Path
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A CA able to issue printer certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> str:
        """The CA certificate in PEM form."""
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @classmethod
    def create(cls, common_name: str = "Printernizer Simulator CA") -> CertificateAuthority:
        """A fresh self-signed CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(cert=cert, key=key)

    def write(self, directory: Path) -> None:
        """Write the certificate (ca.pem, for clients) and its key (ca.key, to issue again)."""
        (directory / "ca.pem").write_text(self.cert_pem)
        (directory / "ca.key").write_bytes(_key_pem(self.key))

    def issue(self, serial: str) -> PrinterCertificate:
        """A leaf for a printer: CN = serial, no SAN, no keyUsage, like the real ones."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + _VALIDITY)
            .sign(self.key, hashes.SHA256())
        )
        return PrinterCertificate(cert=cert, key=key)


@dataclass(frozen=True, slots=True)
class PrinterCertificate:
    """A printer's certificate and key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> str:
        """The certificate in PEM form."""
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def sha256_fingerprint(self) -> str:
        """Lower-case hex SHA-256 of the DER certificate, as clients pin it."""
        return self.cert.fingerprint(hashes.SHA256()).hex()

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write cert and key as PEM files (for mosquitto or ssl) and return their paths."""
        cert_path = directory / "printer.crt"
        key_path = directory / "printer.key"
        cert_path.write_text(self.cert_pem)
        key_path.write_bytes(_key_pem(self.key))
        return cert_path, key_path

    def server_context(self, directory: Path) -> ssl.SSLContext:
        """A TLS server context presenting this certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.write(directory))
        return context


def load_stored(
    directory: Path, serial: str
) -> tuple[CertificateAuthority, PrinterCertificate] | None:
    """The CA and leaf written to `directory` earlier, if both are there and the leaf is `serial`'s.

    A real printer keeps its certificate across restarts; clients that pinned it rely on that.
    """
    try:
        ca_cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
        leaf = x509.load_pem_x509_certificate((directory / "printer.crt").read_bytes())
        key = serialization.load_pem_private_key((directory / "printer.key").read_bytes(), None)
    except (OSError, ValueError):
        return None
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if (
        not isinstance(ca_key, ec.EllipticCurvePrivateKey)
        or not isinstance(key, ec.EllipticCurvePrivateKey)
        or [name.value for name in names] != [serial]
        or leaf.issuer != ca_cert.subject
    ):
        return None
    return CertificateAuthority(cert=ca_cert, key=ca_key), PrinterCertificate(cert=leaf, key=key)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
