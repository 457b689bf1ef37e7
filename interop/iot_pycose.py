"""Interop: pycose (PyPI) against smartmeter_proto's COSE protection of IoT frames.

Both directions, for COSE_Encrypt0 with AES-CCM-16-64-128 (alg 10) and COSE_Mac0 with
HMAC 256/64 (alg 4), each carrying a kid and a Partial IV in the unprotected header and
bound to the external AAD of ``iot.cose.build_external_aad``:

1. pycose decrypts / verifies what ``protect_encrypt0`` / ``protect_mac0`` produce, derives
   the same AES-CCM nonce, and refuses the message under another external AAD.
2. ``open_encrypt0`` / ``open_mac0`` open what pycose's ``Enc0Message`` / ``Mac0Message``
   produce, and refuse it under another external AAD.
3. For the same key, nonce, headers and AAD both sides produce the same bytes.

Every payload is a real IoT frame from ``iot.frame.encode`` and must decode back to the
message it came from. Sequence numbers cover 1-, 2- and 5-byte Partial IVs.

Two pycose 1.1.0 quirks are worked around, not hidden:

* ``CoseMessage.decode`` wants the CBOR array as a list, but cbor2 >= 6 returns a tuple
  inside a tag; the script hands pycose the same fields as a list (see ``_pycose_decode``).
* pycose builds a Partial-IV nonce as ``int(piv) ^ int(base_iv)`` converted back with the
  fewest bytes, so a Common IV whose first byte is 0x00 gives a 12-byte nonce that AES-CCM
  refuses. The Common IV below starts with a non-zero byte; an ``INFO`` line shows the quirk.

Run: ``PYTHONPATH=src python interop/iot_pycose.py`` (prints PASS/FAIL per check, exit 1 on
any FAIL). Needs ``pycose==1.1.0`` (the ``interop`` extra of pyproject.toml).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final

import cbor2
from cryptography.exceptions import InvalidTag

from smartmeter_proto.errors import AuthError
from smartmeter_proto.iot import cose
from smartmeter_proto.iot.frame import (
    BackfillEntry,
    BackfillResponse,
    Header,
    Message,
    MeterKind,
    Reading,
    Route,
    StatusFlags,
    decode,
    encode,
)
from smartmeter_proto.iot.senml import SenmlPack, SenmlRecord

PYCOSE_VERSION: Final = "1.1.0"

# Fixtures of this script (not published vectors).
CCM_KEY: Final = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")  # 16 bytes (RFC 9053 §4.2)
HMAC_KEY: Final = bytes(range(0x80, 0xA0))  # 32 bytes, the SHA-256 output size (RFC 2104 §3)
KID: Final = b"gm-7"
COMMON_IV: Final = bytes.fromhex("5c0ffee0d15ea5e1a2b3c4d5e6")  # first byte non-zero (see above)
METER_ID: Final = "GM-0007"
ROUTE_TAG: Final = "a-iot"
T0: Final = 1_780_000_000
#: Partial IVs of 1, 2 and 5 bytes (RFC 8613 §7.2.1: at most 5).
SEQS: Final = (1, 0x0102, cose.MAX_SEQ)


class Report:
    """PASS/FAIL lines as they happen; ``ok`` is False after any FAIL."""

    def __init__(self) -> None:
        self.failed = 0
        self.passed = 0

    def check(self, what: str, run: Callable[[], object]) -> None:
        """Run ``run``; it passes when it returns True, fails on False or any exception."""
        try:
            outcome = run()
        except Exception as exc:  # a peer's exception is a disagreement, not a crash
            outcome = f"{type(exc).__name__}: {exc}"
        if outcome is True:
            self.passed += 1
            print(f"PASS {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}: {outcome!r:.300}")

    @property
    def ok(self) -> bool:
        return self.failed == 0


# --------------------------------------------------------------------- pycose access


def _pycose() -> Any:
    import pycose  # noqa: F401 - fail early with ImportError when the extra is missing
    from pycose import algorithms, headers, keys, messages

    return algorithms, headers, keys, messages


def _pycose_decode(messages: Any, data: bytes) -> Any:
    """pycose's decode, fed a list where cbor2 6 gives a tuple (pycose 1.1.0 quirk)."""
    item = cbor2.loads(data)
    fields = list(item.value)
    fields[1] = dict(fields[1])  # unprotected header map
    return messages.CoseMessage._COSE_MSG_ID[item.tag].from_cose_obj(fields, True)


def _raises(exc_types: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
    def wrap(run: Callable[[], object]) -> Callable[[], object]:
        def inner() -> object:
            try:
                run()
            except exc_types:
                return True
            return "no exception"

        return inner

    return wrap


# --------------------------------------------------------------------- payloads


def frame_for(seq: int) -> Message:
    """A real IoT frame numbered ``seq``: a reading, or a back-fill response for odd seqs."""
    header = Header(METER_ID, MeterKind.GAS, Route.A_IOT, seq, StatusFlags.LEAK)
    vol = SenmlRecord(base_name="urn:dev:gm:7:", base_time=T0, name="vol", unit="m3", value=845.31)
    if seq % 2 == 0:
        return Reading(header, SenmlPack((vol,)))
    older = SenmlPack((SenmlRecord(base_time=T0 - 60, name="vol", unit="m3", value=845.25),))
    entries = (BackfillEntry(max(1, seq - 1), T0 - 60, older),)
    return BackfillResponse(header, request_id=5, entries=entries)


def aad(seq: int) -> bytes:
    return cose.build_external_aad(METER_ID, ROUTE_TAG, seq)


def other_aad(seq: int) -> bytes:
    """The same seq and meter on the other route: must not authenticate."""
    return cose.build_external_aad(METER_ID, "b-iot", seq)


def aad_for(kid: bytes, seq: int) -> bytes:
    if kid != KID:
        raise AuthError("unexpected kid")
    return aad(seq)


def other_aad_for(kid: bytes, seq: int) -> bytes:
    return other_aad(seq)


# --------------------------------------------------------------------- checks


def _same(ours: bytes, theirs: bytes) -> object:
    return ours == theirs or f"ours {ours.hex()} pycose {theirs.hex()}"


def check_seq(report: Report, pc: Any, seq: int) -> None:
    """Every check for one sequence number (one frame, one Partial IV)."""
    algorithms, headers, keys, messages = pc
    ccm_key = keys.SymmetricKey(k=CCM_KEY)
    ccm_key.base_iv = COMMON_IV
    hmac_key = keys.SymmetricKey(k=HMAC_KEY)
    msg = frame_for(seq)
    payload = encode(msg)
    piv = cose.partial_iv_from_seq(seq)
    tag = f"seq {seq:#x} ({type(msg).__name__}, {len(payload)} B)"
    if decode(payload) != msg:
        raise AssertionError(f"{tag}: the frame codec does not round-trip")

    # ---- ours -> pycose
    ours_enc = cose.protect_encrypt0(
        payload, key=CCM_KEY, kid=KID, common_iv=COMMON_IV, seq=seq, external_aad=aad(seq)
    )
    ours_mac = cose.protect_mac0(payload, key=HMAC_KEY, kid=KID, seq=seq, external_aad=aad(seq))

    def pycose_enc0(external_aad: bytes) -> Any:
        theirs = _pycose_decode(messages, ours_enc)
        theirs.key = ccm_key
        theirs.external_aad = external_aad
        return theirs

    def pycose_opens_enc() -> object:
        theirs = pycose_enc0(aad(seq))
        headers_ok = theirs.uhdr == {headers.KID: KID, headers.PartialIV: piv}
        plain = theirs.decrypt()
        return headers_ok and plain == payload and decode(plain) == msg

    def same_nonce() -> object:
        return pycose_enc0(aad(seq))._get_nonce() == cose.nonce_from_partial_iv(COMMON_IV, piv)

    def pycose_refuses_enc() -> None:
        pycose_enc0(other_aad(seq)).decrypt()

    def pycose_verifies_mac() -> object:
        theirs = _pycose_decode(messages, ours_mac)
        theirs.key = hmac_key
        theirs.external_aad = aad(seq)
        good = theirs.verify_tag()
        theirs.external_aad = other_aad(seq)
        bad = theirs.verify_tag()
        return good is True and bad is False and decode(theirs.payload) == msg

    report.check(f"encrypt0 {tag}: pycose decrypts ours", pycose_opens_enc)
    report.check(f"encrypt0 {tag}: pycose derives our nonce", same_nonce)
    report.check(
        f"encrypt0 {tag}: pycose refuses ours under another external AAD",
        _raises(InvalidTag)(pycose_refuses_enc),
    )
    report.check(f"mac0 {tag}: pycose verifies ours, not under another AAD", pycose_verifies_mac)

    # ---- pycose -> ours
    unprotected = {headers.KID: KID, headers.PartialIV: piv}
    enc = messages.Enc0Message(
        phdr={headers.Algorithm: algorithms.AESCCM1664128},
        uhdr=unprotected,
        payload=payload,
        external_aad=aad(seq),
    )
    enc.key = ccm_key
    theirs_enc: bytes = enc.encode()
    mac = messages.Mac0Message(
        phdr={headers.Algorithm: algorithms.HMAC25664},
        uhdr=unprotected,
        payload=payload,
        external_aad=aad(seq),
    )
    mac.key = hmac_key
    theirs_mac: bytes = mac.encode()

    def we_open_enc() -> object:
        opened = cose.open_encrypt0(
            theirs_enc, keys_by_kid={KID: CCM_KEY}, common_iv=COMMON_IV, external_aad_for=aad_for
        )
        return opened == (KID, seq, payload) and decode(opened.payload) == msg

    def we_refuse_enc() -> None:
        cose.open_encrypt0(
            theirs_enc,
            keys_by_kid={KID: CCM_KEY},
            common_iv=COMMON_IV,
            external_aad_for=other_aad_for,
        )

    def we_open_mac() -> object:
        opened = cose.open_mac0(theirs_mac, keys_by_kid={KID: HMAC_KEY}, external_aad_for=aad_for)
        return opened == (KID, seq, payload) and decode(opened.payload) == msg

    def we_refuse_mac() -> None:
        cose.open_mac0(theirs_mac, keys_by_kid={KID: HMAC_KEY}, external_aad_for=other_aad_for)

    report.check(f"encrypt0 {tag}: we open pycose's", we_open_enc)
    report.check(
        f"encrypt0 {tag}: we refuse pycose's under another external AAD",
        _raises(AuthError)(we_refuse_enc),
    )
    report.check(f"encrypt0 {tag}: same bytes as pycose", lambda: _same(ours_enc, theirs_enc))
    report.check(f"mac0 {tag}: we open pycose's", we_open_mac)
    report.check(
        f"mac0 {tag}: we refuse pycose's under another external AAD",
        _raises(AuthError)(we_refuse_mac),
    )
    report.check(f"mac0 {tag}: same bytes as pycose", lambda: _same(ours_mac, theirs_mac))


def run_checks(report: Report) -> None:
    pc = _pycose()
    algorithms, headers, keys, messages = pc
    for seq in SEQS:
        check_seq(report, pc, seq)

    # The nonce quirk, shown (does not count): a Common IV with a leading zero byte.
    zero_led = keys.SymmetricKey(k=CCM_KEY)
    zero_led.base_iv = b"\x00" + COMMON_IV[1:]
    probe = messages.Enc0Message(
        phdr={headers.Algorithm: algorithms.AESCCM1664128},
        uhdr={headers.KID: KID, headers.PartialIV: b"\x01"},
        payload=b"",
    )
    probe.key = zero_led
    print(
        f"INFO pycose {PYCOSE_VERSION} nonce for a Common IV starting with 0x00: "
        f"{len(probe._get_nonce())} bytes (RFC 9053 §4.2 needs {cose.CCM_NONCE_LENGTH})"
    )


def main() -> int:
    report = Report()
    try:
        run_checks(report)
    except ImportError as exc:
        print(f"FAIL pycose not importable ({exc}); install pycose=={PYCOSE_VERSION}")
        return 1
    print(f"{'OK' if report.ok else 'FAILED'}: {report.passed} passed, {report.failed} failed")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
