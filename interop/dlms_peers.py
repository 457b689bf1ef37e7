"""Interop: gurux-dlms and dlms-cosem (PyPI) against smartmeter_proto's A-route codec.

Both directions, against both peers wherever the peer has the feature:

(a) A-XDR data: a fixed, seeded sample of a few hundred values covering every Data type
    (boundaries, long-form lengths, wildcards in dates, nesting, compact arrays). We encode
    -> the peer decodes to the same value; the peer encodes the value -> we decode the same
    Data and the bytes are ours byte for byte.
(b) Get-Response: Normal with Data, Normal with a Data-Access-Result, With-Datablock
    (raw data and an error), a 48-row load profile spread over three blocks.
(c) Data-Notification with and without date-time, with a realistic 30-minute push body.
(d) Ciphering (security suite 0): general-glo-ciphering and glo-get-response, SC 0x30 and
    0x10. We protect -> gurux ``GXDLMSChippering.decryptAesGcm`` / dlms-cosem
    ``security.decrypt`` give our plaintext; the peers encrypt -> ``unprotect`` gives theirs.
(e) AARQ/AARE (no authentication and LLS): each side encodes, the other decodes.

Where a peer lacks a type or service, the check is counted UNSUPPORTED. Where the peer has
a bug, the value or message that triggers it is named in ``QUIRKS`` beforehand (with the
peer source it comes from); a disagreement on such a value is counted PEER, anything else
unexpected is a FAIL. A quirk that does not show up is also a FAIL (the note would be stale).
gurux builds date/time values from its own decoding of our bytes (it has no other public
constructor for wildcards), and its Get-Response/AARE encoder is ``GXDLMSTranslator``
(XML -> PDU) fed with its own translation of our bytes.

Helpers beside it: dlms_peers_sample.py (the values, canonical forms), dlms_peers_adapters.py
(peer access, QUIRKS, Report) and dlms_peers_session.py (sections d and e).
Run: ``PYTHONPATH=src python interop/dlms_peers.py`` (exit 1 on any FAIL).
Needs ``gurux-dlms==1.0.203`` and ``dlms-cosem==25.1.0`` (the ``interop`` extra).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dlms_peers_adapters import (
    QUIRKS,
    Cosem,
    Gurux,
    Report,
    cosem_quirk,
    gurux_quirk,
    gx_get_response,
    gx_read,
    types_of,
)
from dlms_peers_sample import PROFILE, PUSH_BODY, PUSH_TIME, canon, sample
from dlms_peers_session import check_association, check_ciphering

from smartmeter_proto.aroute import axdr
from smartmeter_proto.aroute.apdu import (
    DataAccessResult,
    DataNotification,
    GetResponseNormal,
    GetResponseWithDatablock,
    LongInvokeIdAndPriority,
    decode_apdu,
)
from smartmeter_proto.aroute.axdr import Data, DataType

T = DataType


# ============================================================= (a) data values


def check_values(report: Report, gx: Gurux, dc: Cosem) -> None:
    values = sample()
    print(
        f"INFO        (a) {len(values)} Data values, "
        f"{len({t for d in values for t in types_of(d)})} of {len(DataType)} types"
    )
    for i, d in enumerate(values):
        ours = axdr.encode_data(d)
        label = f"#{i} {d.type.name.lower()} {ours[:24].hex()}{'..' if len(ours) > 24 else ''}"

        def gx_decode(d: Data = d, ours: bytes = ours) -> object:
            got = gx.canon(gx.decode(ours))
            return True if got == canon(d) else f"gurux {got!r:.120} != ours {canon(d)!r:.120}"

        def gx_encode(d: Data = d, ours: bytes = ours) -> object:
            theirs = gx.encode(d)
            if axdr.decode_data(theirs) != d:
                return f"we decode {axdr.decode_data(theirs)!r:.120}"
            return True if theirs == ours else f"bytes differ: {theirs.hex()[:80]}"

        def dc_decode(d: Data = d, ours: bytes = ours) -> object:
            got, want = dc.canon(dc.decode(ours)), Cosem.expected(d)
            return True if got == want else f"dlms-cosem {got!r:.120} != {want!r:.120}"

        def dc_encode(d: Data = d, ours: bytes = ours) -> object:
            theirs = dc.encode(d)
            if axdr.decode_data(theirs) != d:
                return f"we decode {axdr.decode_data(theirs)!r:.100}"
            return True if theirs == ours else f"bytes differ: {theirs.hex()[:80]}"

        report.check("a gurux decode", label, gx_decode, gurux_quirk(d, "decode"))
        report.check("a gurux encode", label, gx_encode, gurux_quirk(d, "encode"))
        report.check("a cosem decode", label, dc_decode, cosem_quirk(d, "decode"))
        report.check("a cosem encode", label, dc_encode, cosem_quirk(d, "encode"))


# ============================================================= (b) Get-Response


def check_get(report: Report, gx: Gurux, dc: Cosem) -> None:
    values = [*[d for d in sample() if d.type is not T.COMPACT_ARRAY][::7], PROFILE, PUSH_BODY]
    for d in values:
        ours = GetResponseNormal(d).encode()
        label = f"Get-Response-Normal {d.type.name.lower()} {len(ours)} bytes"

        def gx_dec(d: Data = d, ours: bytes = ours) -> object:
            return gx.canon(gx_read(gx, [ours]).value) == canon(d) or "value differs"

        def dc_dec(d: Data = d, ours: bytes = ours) -> object:
            apdu = dc.apdu(ours)
            return dc.canon(dc.decode(apdu.data)) == Cosem.expected(d) or "value differs"

        def gx_enc(d: Data = d) -> object:
            (theirs,) = gx_get_response(gx, axdr.encode_data(d), 0)
            got = decode_apdu(theirs)
            return (
                isinstance(got, GetResponseNormal) and got.result == d and got.invoke.invoke_id == 1
            ) or f"we decode {got!r:.100}"

        def dc_enc(d: Data = d, ours: bytes = ours) -> object:
            theirs = dc.xdlms.GetResponseNormal(axdr.encode_data(d)).to_bytes()
            return theirs == ours or f"bytes differ {theirs.hex()[:60]}"

        report.check("b gurux decode", label, gx_dec, gurux_quirk(d, "decode"))
        report.check("b cosem decode", label, dc_dec, cosem_quirk(d, "decode"))
        report.check("b gurux encode", label, gx_enc, gurux_quirk(d, "encode"))
        report.check("b cosem encode", label, dc_enc, "dc-getresp-append")
    for code in (
        DataAccessResult.HARDWARE_FAULT,
        DataAccessResult.READ_WRITE_DENIED,
        DataAccessResult.OBJECT_UNDEFINED,
        DataAccessResult.OTHER_REASON,
    ):
        ours = GetResponseNormal(code).encode()
        label = f"Get-Response-Normal {code.name}"

        def gx_err_dec(o: bytes = ours, c: int = code) -> object:
            return gx_read(gx, [o]).error == c or "error differs"

        def dc_err_dec(o: bytes = ours, c: int = code) -> object:
            return dc.apdu(o).error == c or "error differs"

        def gx_err_enc(c: int = code) -> object:
            got = decode_apdu(gx_get_response(gx, None, c)[0])
            return (isinstance(got, GetResponseNormal) and got.result == c) or f"{got!r:.100}"

        def dc_err_enc(o: bytes = ours, c: int = code) -> object:
            theirs = dc.xdlms.GetResponseNormalWithError(dc.data_access(c)).to_bytes()
            return theirs == o or "bytes differ"

        report.check("b gurux decode", label, gx_err_dec)
        report.check("b cosem decode", label, dc_err_dec)
        report.check("b gurux encode", label, gx_err_enc)
        report.check("b cosem encode", label, dc_err_enc)
    # With-Datablock: the 48-row profile (1,490 bytes of Data) in three blocks.
    raw = axdr.encode_data(PROFILE)
    cuts = [raw[:500], raw[500:1000], raw[1000:]]
    blocks = [GetResponseWithDatablock(i == 2, i + 1, b).encode() for i, b in enumerate(cuts)]
    report.check(
        "b gurux decode",
        "With-Datablock x3 (48-row profile)",
        lambda: (gx.canon(gx_read(gx, blocks).value) == canon(PROFILE)) or "value differs",
    )

    def dc_blocks() -> object:
        got = [dc.apdu(b) for b in blocks]
        ok = [type(g).__name__ for g in got] == ["GetResponseWithBlock"] * 2 + [
            "GetResponseLastBlock"
        ] and [g.block_number for g in got] == [1, 2, 3]
        data = b"".join(g.data for g in got)
        return (ok and dc.canon(dc.decode(data)) == Cosem.expected(PROFILE)) or "differs"

    report.check("b cosem decode", "With-Datablock x3 (48-row profile)", dc_blocks)

    def gx_blocks() -> object:
        theirs = gx_get_response(gx, raw, 0, max_pdu=512)
        got = [decode_apdu(b) for b in theirs]
        if not all(isinstance(g, GetResponseWithDatablock) for g in got):
            return f"not all datablocks: {got!r:.100}"
        joined = b"".join(g.result for g in got)  # type: ignore[union-attr,misc]
        return (
            joined == raw
            and got[-1].last_block  # type: ignore[union-attr]
            and [g.block_number for g in got] == list(range(1, len(got) + 1))  # type: ignore[union-attr]
        ) or "blocks differ"

    report.check("b gurux encode", "With-Datablock (gurux splits at max PDU 512)", gx_blocks)

    def dc_enc_blocks() -> object:
        theirs = [
            dc.xdlms.GetResponseWithBlock(cuts[0], 1).to_bytes(),
            dc.xdlms.GetResponseWithBlock(cuts[1], 2).to_bytes(),
            dc.xdlms.GetResponseLastBlock(cuts[2], 3).to_bytes(),
        ]
        return theirs == blocks or f"{[t.hex()[:30] for t in theirs]}"

    report.check("b cosem encode", "With-Datablock x3 (48-row profile)", dc_enc_blocks)
    err = GetResponseWithDatablock(True, 2, DataAccessResult.DATA_BLOCK_NUMBER_INVALID).encode()
    report.check(
        "b gurux decode",
        "With-Datablock last block with Data-Access-Result",
        lambda: (
            (gx_read(gx, [err]).error == DataAccessResult.DATA_BLOCK_NUMBER_INVALID) or "differs"
        ),
    )

    def dc_err() -> object:
        got = dc.apdu(err)
        return (
            type(got).__name__ == "GetResponseLastBlockWithError"
            and got.block_number == 2
            and got.error == DataAccessResult.DATA_BLOCK_NUMBER_INVALID
        ) or f"{got!r:.100}"

    report.check("b cosem decode", "With-Datablock last block with Data-Access-Result", dc_err)
    report.check(
        "b cosem encode",
        "With-Datablock last block with Data-Access-Result",
        lambda: (
            (
                dc.xdlms.GetResponseLastBlockWithError(
                    dc.data_access(DataAccessResult.DATA_BLOCK_NUMBER_INVALID), 2
                ).to_bytes()
                == err
            )
            or "bytes differ"
        ),
    )


# ============================================================= (c) Data-Notification


def check_notification(report: Report, gx: Gurux, dc: Cosem) -> None:
    import datetime as dt

    from gurux_dlms import GXDateTime  # type: ignore[import-untyped]

    when = PUSH_TIME.to_datetime()
    for date_time in (PUSH_TIME.encode(), None):
        for body in (PUSH_BODY, PROFILE):
            ours = DataNotification(body, date_time, LongInvokeIdAndPriority(48)).encode()
            label = (
                f"Data-Notification {'with' if date_time else 'without'} date-time, "
                f"{'30-minute push' if body is PUSH_BODY else '48-row profile'}"
            )

            def gx_dec(
                ours: bytes = ours, body: Data = body, date_time: bytes | None = date_time
            ) -> object:
                reply = gx_read(gx, [ours])
                time = None if reply.time is None else gx.canon(reply.time)
                want = None if date_time is None else canon(Data(T.DATE_TIME, PUSH_TIME))
                return (
                    gx.canon(reply.value) == canon(body) and time == want and reply.invokeId == 48
                ) or f"time {time} invoke {reply.invokeId}"

            def dc_dec(
                ours: bytes = ours, body: Data = body, date_time: bytes | None = date_time
            ) -> object:
                got = dc.apdu(ours)
                want = None if date_time is None else when
                return (
                    dc.canon(dc.decode(got.body)) == Cosem.expected(body)
                    and got.date_time == want
                    and got.long_invoke_id_and_priority.long_invoke_id == 48
                ) or "differs"

            def gx_enc(
                ours: bytes = ours, body: Data = body, date_time: bytes | None = date_time
            ) -> object:
                notify = gx.g.GXDLMSNotify(True, 1, 1, gx.pdu)
                notify.settings.maxPduSize = 0xFFFF
                gtime = None if date_time is None else GXDateTime(when)
                if gtime is not None:  # GXDateTime(datetime) leaves day of week 0xFF
                    gtime.status, gtime.dayOfWeek = PUSH_TIME.clock_status, PUSH_TIME.day_of_week
                (theirs,) = notify.generateDataNotificationMessages(
                    gtime, gx.g.GXByteBuffer(axdr.encode_data(body))
                )
                got = decode_apdu(bytes(theirs))
                if not isinstance(got, DataNotification) or got.body != body:
                    return f"we decode {got!r:.160}"
                if date_time is None or got.date_time is None:
                    return got.date_time == date_time or f"date-time {got.date_time!r}"
                if got.date_time[:4] + got.date_time[5:] != date_time[:4] + date_time[5:]:
                    return f"date-time {got.date_time.hex()} != {date_time.hex()}"
                report.check(
                    "c gurux encode",
                    "  ...its date-time day of week",
                    lambda: (got.date_time == date_time) or f"{got.date_time.hex()}",  # type: ignore[union-attr]
                    "gx-notify-dow",
                )
                return True

            def dc_enc(
                ours: bytes = ours, body: Data = body, date_time: bytes | None = date_time
            ) -> object:
                theirs = dc.xdlms.DataNotification(
                    dc.long_invoke(48), None if date_time is None else when, axdr.encode_data(body)
                ).to_bytes()
                got = decode_apdu(theirs)
                return theirs == ours or f"we decode {got!r:.100} from {theirs[:20].hex()}"

            report.check("c gurux decode", label, gx_dec)
            report.check("c cosem decode", label, dc_dec)
            report.check("c gurux encode", label, gx_enc)
            report.check(
                "c cosem encode", label, dc_enc, "dc-dn-datetime" if date_time is not None else None
            )
    del dt


def main() -> int:
    report = Report()
    gx, dc = Gurux(), Cosem()
    check_values(report, gx, dc)
    check_get(report, gx, dc)
    check_notification(report, gx, dc)
    check_ciphering(report, gx, dc)
    check_association(report, gx, dc)
    stale = report.quirks_expected - report.quirks_seen
    for key in sorted(stale):
        print(f"FAIL        [quirk] {key}: predicted but never seen: {QUIRKS[key]}")
    for key in sorted(report.quirks_seen):
        print(f"NOTE        {key}: {QUIRKS[key]}")
    for (section, kind), n in sorted(report.counts.items()):
        print(f"{section:<16} {kind:<11} {n}")
    totals: Counter[str] = Counter()
    for (_, kind), n in report.counts.items():
        totals[kind] += n
    print(
        "TOTAL            "
        + "  ".join(f"{k} {totals[k]}" for k in ("PASS", "UNSUPPORTED", "PEER", "FAIL"))
    )
    return 1 if report.failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
