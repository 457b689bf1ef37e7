"""Fuzz ``aroute.security.unprotect``: any bytes -> Unprotected, DecodeError or AuthError.

Fixed Green Book keys (EK 000102..0F, AK D0..DF) and the server system title of its
examples, so well-formed mutants reach the GCM step; a fresh ``InvocationCounters`` per
input. ``unprotect`` is called three times: with the peer's system title passed (as an
association does), refusing encryption-only content and then allowing it (the CTR path);
and without it, so a service-specific tag or a zero-length title must give AuthError, not
ValueError. A successful result must carry the input's invocation counter.

Input: one ciphered APDU. Run ``python fuzz/dlms_security.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import sys

from _harness import Target, main

# DLMS UA Green Book example keys and system title (as in tests/aroute/test_security.py).
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = bytes.fromhex("4D4D4D0000BC614E")


def build() -> Target:
    from smartmeter_proto.aroute import security
    from smartmeter_proto.errors import AuthError, DecodeError

    def call(data: bytes) -> object:
        results: list[object] = []
        for title, allow in ((SERVER_TITLE, False), (SERVER_TITLE, True), (None, False)):
            try:
                plain = security.unprotect(
                    data,
                    ek=EK,
                    ak=AK,
                    counters=security.InvocationCounters(),
                    system_title=title,
                    allow_unauthenticated=allow,
                )
            except (DecodeError, AuthError) as exc:
                results.append(exc)
                continue
            header = security.decode_ciphered(data)
            if plain.invocation_counter != header.invocation_counter:
                raise AssertionError("the invocation counter changed on the way")
            results.append(plain)
        return results

    return Target("dlms_security", call, (DecodeError, AuthError), "bytes")


def seeds() -> dict[str, bytes]:
    """The Green Book ciphered vectors of tests/aroute/test_security.py, and protect()ed APDUs."""
    from pana_message import load_test_module

    from smartmeter_proto.aroute.security import protect

    test_security = load_test_module("tests/aroute/test_security.py")
    out = {f"glo-get-request-sc{sc:02x}": raw for sc, raw in test_security.GLO_GET.items()}
    out["glo-initiate-request"] = test_security.GLO_INITIATE
    out["dlms-cosem-push-unknown-keys"] = test_security.PUSH  # structure only: AuthError
    out["general-glo-get-request"] = (
        bytes.fromhex("DB08") + SERVER_TITLE + test_security.GLO_GET[0x30][1:]
    )
    get = test_security.GET_REQUEST
    # A data-notification (long-unsigned 255) as the meter pushes it, glo and ded.
    notification = bytes.fromhex("0F00000001001200FF")
    for name, apdu, sc, dedicated in (
        ("general-glo-notification-sc30", notification, 0x30, False),
        ("general-glo-notification-sc10", notification, 0x10, False),
        ("general-ded-get-request-sc30", get, 0x30, True),
        ("general-glo-get-request-sc20", get, 0x20, False),
    ):
        out[name] = protect(
            apdu,
            security_control=sc,
            system_title=SERVER_TITLE,
            invocation_counter=0x01234567,
            ek=EK,
            ak=AK,
            dedicated=dedicated,
        )
    out["edge-empty"] = b""
    out["edge-unknown-tag"] = b"\xc0\x01"
    out["edge-short-content"] = bytes.fromhex("C80430012345")
    out["edge-title-length-lie"] = bytes.fromhex("DB07") + SERVER_TITLE[:7] + b"\x05\x30\x00"
    # No title to form the IV unless the caller passes one (was a ValueError).
    out["edge-zero-length-title"] = bytes.fromhex("DB00113001234567") + bytes(12)
    out["edge-flipped-tag"] = out["general-glo-get-request"][:-1] + b"\x00"
    out["edge-long-form-length"] = (
        bytes.fromhex("DB08")
        + SERVER_TITLE
        + bytes.fromhex("840000001E")
        + test_security.GLO_GET[0x30][2:]
    )
    return out


if __name__ == "__main__":
    sys.exit(main("dlms_security"))
