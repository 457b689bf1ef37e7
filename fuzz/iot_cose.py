"""Fuzz ``iot.cose.open_encrypt0`` and ``open_mac0``: any bytes -> DecodeError or AuthError.

A fixed key and kid, so well-formed mutants reach the authentication step.

Input: one COSE message. Run ``python fuzz/iot_cose.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import sys

from _harness import Target, main

KID = b"meter-1"
KEY_CCM = bytes(range(16))
KEY_HMAC = bytes(range(32))
COMMON_IV = bytes(range(1, 14))


def build() -> Target:
    from smartmeter_proto.errors import AuthError, DecodeError
    from smartmeter_proto.iot import cose

    def call(data: bytes) -> object:
        results: list[object] = []
        for opener in (
            lambda: cose.open_encrypt0(
                data,
                keys_by_kid={KID: KEY_CCM},
                common_iv=COMMON_IV,
                external_aad_for=lambda kid, seq: b"",
            ),
            lambda: cose.open_mac0(
                data, keys_by_kid={KID: KEY_HMAC}, external_aad_for=lambda kid, seq: b""
            ),
        ):
            try:
                results.append(opener())
            except (DecodeError, AuthError) as exc:
                results.append(exc)
        return results

    return Target("iot_cose", call, (DecodeError, AuthError), "bytes")


def seeds() -> dict[str, bytes]:
    """Well-formed messages under the fixed keys (for the corpus)."""
    from smartmeter_proto.iot import cose

    return {
        "encrypt0": cose.protect_encrypt0(
            b"\xa1\x00\x01", key=KEY_CCM, kid=KID, common_iv=COMMON_IV, seq=7, external_aad=b""
        ),
        "mac0": cose.protect_mac0(b"\xa1\x00\x01", key=KEY_HMAC, kid=KID, seq=7, external_aad=b""),
    }


if __name__ == "__main__":
    sys.exit(main("iot_cose"))
