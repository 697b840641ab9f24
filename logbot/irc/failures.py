"""Why a connection failed or ended, as one line an operator can read."""

from __future__ import annotations

import sys

from twisted.python.failure import Failure


def describe_failure(reason: Failure, host: str) -> str:
    """One readable line for why a connection failed or ended.

    TLS failures otherwise read as OpenSSL's error-tuple lists or service_identity's
    reprs, and they are the ones an operator most needs to understand at a glance.
    """
    value = reason.value
    # A TLS error can only come from TLS modules already loaded: looked up, not imported,
    # so that a bot without TLS never loads OpenSSL and cryptography (~10 MB).
    identity = sys.modules.get("service_identity")
    if identity is not None and isinstance(value, identity.VerificationError):
        return f"TLS certificate is not valid for {host}"
    openssl = sys.modules.get("OpenSSL.SSL")
    if openssl is not None and isinstance(value, openssl.Error):
        args = value.args[0] if value.args else None
        details = (
            [str(item[-1]) for item in args if isinstance(item, tuple) and item]
            if isinstance(args, list)
            else []
        )
        return "TLS handshake failed: " + ("; ".join(details) or "unknown error")
    return reason.getErrorMessage()
