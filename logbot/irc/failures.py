"""Why a connection failed or ended, as one line an operator can read."""

from __future__ import annotations

from OpenSSL import SSL
from service_identity import VerificationError
from twisted.python.failure import Failure


def describe_failure(reason: Failure, host: str) -> str:
    """One readable line for why a connection failed or ended.

    TLS failures otherwise read as OpenSSL's error-tuple lists or service_identity's
    reprs, and they are the ones an operator most needs to understand at a glance.
    """
    value = reason.value
    if isinstance(value, VerificationError):
        return f"TLS certificate is not valid for {host}"
    if isinstance(value, SSL.Error):
        args = value.args[0] if value.args else None
        details = (
            [str(item[-1]) for item in args if isinstance(item, tuple) and item]
            if isinstance(args, list)
            else []
        )
        return "TLS handshake failed: " + ("; ".join(details) or "unknown error")
    return reason.getErrorMessage()
