"""Reading the peer's certificate off a live TLS connection.

Why the DER form and `cryptography`: `SSLObject.getpeercert()` returns an empty dict when
verification is off (verify_tls: false, or the tls kind inspecting an untrusted chain), yet
on-call still wants "expires in 3 days". Parsing DER ourselves would mean writing an ASN.1
reader for hostile input; `cryptography` already is one.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    issuer: str
    not_after: datetime  # aware UTC
    dns_names: tuple[str, ...]

    def seconds_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds()


def cert_info(der: bytes | None) -> CertInfo | None:
    """Subject, issuer, expiry and DNS names of a DER certificate (None if unreadable)."""
    if not der:
        return None
    try:
        from cryptography import x509

        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = tuple(san.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
        return CertInfo(
            subject=cert.subject.rfc4514_string()[:200],
            issuer=cert.issuer.rfc4514_string()[:200],
            not_after=cert.not_valid_after_utc,
            dns_names=names[:20],
        )
    except (ValueError, TypeError):
        return None


def peer_der(ssl_object: Any) -> bytes | None:
    """The peer certificate (DER) of an ssl.SSLObject / SSLSocket, or None."""
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    try:
        return ssl_object.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        return None
