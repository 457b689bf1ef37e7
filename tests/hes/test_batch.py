"""Batch decode of captured A-route pushes on a local Dask cluster (2 worker processes).

The capture comes from simulated A-route meters (sim/ameter.py) over five simulated hours,
one of them through a 50-minute outage (Last Gasp and restoration pushes), spread over two
Parquet files in shuffled order, plus hostile rows: tampered copies, replays, garbage and a
meter whose keys the head end does not have. Outputs are checked against the meters' own
profile buffers and power event log, and the rejected rows against the exact counts planted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute import wrapper
from smartmeter_proto.aroute.cosem import datetime_from_data
from smartmeter_proto.aroute.security import SecurityControl, protect, unprotect
from smartmeter_proto.hes.push import PERIOD_5MIN, PERIOD_30MIN, MeterKeys, PowerEventKind
from smartmeter_proto.security_state import MemoryStateStore
from smartmeter_proto.sim.ameter import (
    DEFAULT_SPREAD_5MIN_S,
    DEFAULT_SPREAD_30MIN_S,
    SimulatedAMeter,
)
from smartmeter_proto.sim.load_curve import JST

pq = pytest.importorskip("pyarrow.parquet")  # the optional "hes" extra
pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from smartmeter_proto.hes.batch import (  # noqa: E402
    REPLAY_WINDOW,
    RejectReason,
    decode_captures,
    decode_group,
    meter_key,
    push_title,
    split_capture,
)
from smartmeter_proto.hes.batch_io import CaptureRow, write_capture  # noqa: E402

START = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
END = START + timedelta(hours=5)
OUTAGE = (START + timedelta(hours=2, seconds=10), START + timedelta(hours=2, minutes=50))
CLIENT_TITLE = bytes.fromhex("4855534D00000001")
NETWORK_DELAY_S = 0.25
SPREAD = {PERIOD_30MIN: DEFAULT_SPREAD_30MIN_S, PERIOD_5MIN: DEFAULT_SPREAD_5MIN_S}
PROFILE_NAME = {PERIOD_30MIN: "load_profile_30min", PERIOD_5MIN: "load_profile_5min"}


def _keys(n: int) -> MeterKeys:
    return MeterKeys(bytes(range(n, n + 16)), bytes(range(0xA0 + n, 0xB0 + n)))


@dataclass
class Fleet:
    meters: dict[bytes, SimulatedAMeter]
    keys: dict[bytes, MeterKeys]
    rows: list[CaptureRow]
    unknown_rows: int
    planted: dict[str, int] = field(default_factory=dict)


def _wrap(apdu: bytes) -> bytes:
    return wrapper.encode(wrapper.WrapperFrame(1, 1, apdu))


def _run(meter: SimulatedAMeter, source: str, outage: bool) -> list[CaptureRow]:
    """Tick the meter at every deadline up to END, with the outage if asked."""
    rows: list[CaptureRow] = []

    def collect(now: datetime) -> None:
        for apdu in meter.pushes_to_send():
            rows.append(CaptureRow(now.timestamp() + NETWORK_DELAY_S, source, _wrap(apdu)))

    down, up = OUTAGE
    pending = outage
    now = START
    while now < END:
        deadline = meter.next_deadline()
        assert deadline is not None
        if pending and deadline >= down:
            meter.outage(down)
            collect(down)
            meter.restore(up)
            collect(up)
            deadline, pending = up, False
        now = min(deadline, END)
        meter.tick(now)
        collect(now)
    return rows


def build_fleet() -> Fleet:
    meters: dict[bytes, SimulatedAMeter] = {}
    keys: dict[bytes, MeterKeys] = {}
    rows: list[CaptureRow] = []
    for n, (push_5min, outage) in enumerate(((True, True), (False, False), (True, False))):
        title = bytes.fromhex(f"4D4D4D00000081{n:02X}")  # a byte >= 0x80: not UTF-8
        k = _keys(n)
        meter = SimulatedAMeter(
            start=START,
            system_title=title,
            client_system_title=CLIENT_TITLE,
            ek=k.ek,
            ak=k.ak,
            state=MemoryStateStore(),
            seed=11 + n,
            push_5min=push_5min,
        )
        meters[title], keys[title] = meter, k
        rows += _run(meter, f"10.0.0.{n + 1}:4059", outage)
    stranger = SimulatedAMeter(
        start=START,
        system_title=bytes.fromhex("4D4D4D00000002FF"),
        client_system_title=CLIENT_TITLE,
        ek=bytes(16),
        ak=bytes(16),
        state=MemoryStateStore(),
        seed=99,
    )
    unknown = _run(stranger, "10.0.9.9:4059", outage=False)
    return Fleet(meters, keys, rows + unknown, len(unknown))


def _flip(datagram: bytes, index: int) -> bytes:
    out = bytearray(datagram)
    out[index] ^= 0x01
    return bytes(out)


def plant_attacks(fleet: Fleet) -> None:
    """Add forged, replayed, garbage and re-sent rows; record how many of each."""
    rng = random.Random(5)
    genuine = [r for r in fleet.rows if push_title(r.datagram) in fleet.keys]
    later = END.timestamp() + 600
    forged = [
        # a bit of the ciphertext, of the tag, of the invocation counter (changes the IV)
        CaptureRow(genuine[3].received_at + 1, "10.6.6.6:4059", _flip(genuine[3].datagram, 30)),
        CaptureRow(genuine[40].received_at, "10.6.6.6:4059", _flip(genuine[40].datagram, -1)),
        CaptureRow(later, "10.6.6.6:4059", _flip(genuine[7].datagram, 8 + 2 + 8 + 2 + 4)),
    ]
    replayed = [
        CaptureRow(genuine[10].received_at + 1, "10.6.6.6:4059", genuine[10].datagram),
        CaptureRow(later, "10.6.6.6:4059", genuine[20].datagram),  # long after: below window
        CaptureRow(genuine[-1].received_at, genuine[-1].source, genuine[-1].datagram),
    ]
    valid = genuine[0].datagram
    no_title = _wrap(bytes((0xDB, 0x00)) + valid[8 + 10 :])  # general-glo-ciphering, title 0
    garbage = [
        b"",
        bytes(rng.getrandbits(8) for _ in range(40)),
        valid[:30],
        valid + b"\x00",
        no_title,
    ]
    unciphered = _wrap(bytes.fromhex("0F000000010C0001"))  # a push in clear: forged
    answers = [_wrap(bytes.fromhex("C401C1000600000001"))]  # a GET answer: not a push
    forged.append(CaptureRow(later - 1, "10.0.0.9:4059", unciphered))
    fleet.rows += forged + replayed
    fleet.rows += [CaptureRow(later - 2, "10.0.0.3:4059", a) for a in answers]
    fleet.rows += [
        CaptureRow(later + i, None if i % 2 else "10.7.7.7:1", g) for i, g in enumerate(garbage)
    ]
    # A fresh re-send of a 30-minute value: same content, the meter's next counter.
    title = next(t for t, m in fleet.meters.items() if not m.push_5min)
    meter, k = fleet.meters[title], fleet.keys[title]
    first = next(r for r in fleet.rows if push_title(r.datagram) == title)
    plain = unprotect(wrapper.decode(first.datagram).apdu, ek=k.ek, ak=k.ak).apdu
    resent = protect(
        plain,
        security_control=SecurityControl(authenticated=True, encrypted=True),
        system_title=title,
        invocation_counter=meter.invocation_counter,
        ek=k.ek,
        ak=k.ak,
    )
    fleet.rows.append(CaptureRow(later + 100, "10.0.0.2:4059", _wrap(resent)))
    fleet.planted = {
        "forged": len(forged),
        "replayed": len(replayed),
        "malformed": len(garbage),
        "unknown_meter": fleet.unknown_rows,
        "not_a_push": len(answers),
        "duplicates": 1,
    }


def _posix(d: Any) -> int:
    return int(datetime_from_data(d).to_datetime().timestamp())


def _profile_rows(meter: SimulatedAMeter, period: int) -> dict[int, list[int]]:
    profile = next(
        p
        for o, p in meter.profiles.items()
        if o == meter.catalogue.by_name(PROFILE_NAME[period]).obis
    )
    out: dict[int, list[int]] = {}
    for row in profile.buffer:
        values = [v.value for v in row[1:]]
        assert all(isinstance(v, int) for v in values)
        out[_posix(row[0])] = values  # type: ignore[assignment]
    return out


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    fleet = build_fleet()
    plant_attacks(fleet)
    return fleet


@pytest.fixture(scope="module")
def decoded(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("batch")
    rows = list(fleet.rows)
    random.Random(3).shuffle(rows)  # capture order is not time order; the job sorts
    files = [root / "capture-a.parquet", root / "capture-b.parquet"]
    write_capture(files[0], rows[::2], row_group_size=64)
    write_capture(files[1], rows[1::2], row_group_size=64)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, timeout=30
        ) as cluster,
        distributed.Client(cluster, timeout=30) as client,
    ):
        summary = decode_captures(files, fleet.keys, root / "out", client=client, timeout=60)
        assert len(client.nthreads()) == 2  # the cluster is still up: the caller owns it
    tables = {
        name: pq.read_table(root / "out" / name).to_pylist()
        for name in ("readings", "events", "rejected")
    }
    return summary, tables


def test_rejected_counts_are_exactly_what_was_planted(fleet: Fleet, decoded: Any) -> None:
    summary, tables = decoded
    by_reason: dict[str, int] = {}
    for row in tables["rejected"]:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
    planted = {k: v for k, v in fleet.planted.items() if k != "duplicates"}
    assert by_reason == planted
    assert (
        summary.malformed,
        summary.unknown_meter,
        summary.forged,
        summary.replayed,
        summary.not_a_push,
    ) == (
        planted["malformed"],
        planted["unknown_meter"],
        planted["forged"],
        planted["replayed"],
        planted["not_a_push"],
    )
    assert summary.duplicates == fleet.planted["duplicates"]
    assert summary.datagrams == len(fleet.rows)
    assert summary.readings + summary.events + summary.duplicates + summary.rejected == len(
        fleet.rows
    )
    assert summary.meters == len(fleet.meters)
    assert summary.datagrams_per_s > 0


def test_rejected_rows_name_layer_and_never_a_key(fleet: Fleet, decoded: Any) -> None:
    _, tables = decoded
    secrets = [s for k in fleet.keys.values() for s in (k.ek, k.ak)]
    for row in tables["rejected"]:
        text = row["message"].lower()
        assert not any(s.hex() in text for s in secrets)
        if row["reason"] == "malformed":
            assert row["layer"]
            assert row["offset"] is not None
        else:
            assert row["layer"] is None
            if row["reason"] in ("unknown_meter", "replayed"):
                assert row["system_title"] is not None
        if row["reason"] == "unknown_meter":
            assert row["system_title"] == "4D4D4D00000002FF"
    no_title = [
        r for r in tables["rejected"] if r["reason"] == "malformed" and r["system_title"] is None
    ]
    assert len(no_title) == fleet.planted["malformed"]


def test_readings_are_the_meters_profile_rows(fleet: Fleet, decoded: Any) -> None:
    _, tables = decoded
    end = END.timestamp()
    for title, meter in fleet.meters.items():
        mine = [r for r in tables["readings"] if r["system_title"] == title.hex().upper()]
        periods = (PERIOD_30MIN, PERIOD_5MIN) if meter.push_5min else (PERIOD_30MIN,)
        assert {r["period"] for r in mine} == set(periods)
        missing = 0
        for period in periods:
            buffer = _profile_rows(meter, period)
            got = {r["period_end"]: r["values"] for r in mine if r["period"] == period}
            assert len(got) == len([r for r in mine if r["period"] == period])  # one per period
            for period_end, values in got.items():
                assert buffer[period_end] == values
            settled = [t for t in buffer if t <= end - SPREAD[period]]
            for t in settled:
                if t not in got:  # only the pushes the outage dropped may be missing
                    assert OUTAGE[0].timestamp() - SPREAD[period] < t <= OUTAGE[0].timestamp()
                    missing += 1
        assert missing == meter.dropped_pushes
        for r in mine:
            assert r["latency_s"] == pytest.approx(r["received_at"] - r["period_end"])
            assert 0 < r["latency_s"] <= SPREAD[r["period"]] + NETWORK_DELAY_S
        counters = [r["invocation_counter"] for r in sorted(mine, key=lambda r: r["received_at"])]
        assert counters == sorted(counters)
    assert sum(m.dropped_pushes for m in fleet.meters.values()) > 0  # the outage dropped some


def test_events_are_the_power_event_log(fleet: Fleet, decoded: Any) -> None:
    _, tables = decoded
    for title, meter in fleet.meters.items():
        log = meter.objects[meter.catalogue.by_name("power_event_log").obis]
        expected = [(PowerEventKind(row[1].value).name, _posix(row[0])) for row in log.buffer]  # type: ignore[attr-defined]
        mine = sorted(
            (r for r in tables["events"] if r["system_title"] == title.hex().upper()),
            key=lambda r: r["at"],
        )
        assert [(r["kind"], r["at"]) for r in mine] == expected
    assert [(r["kind"], r["at"]) for r in sorted(tables["events"], key=lambda r: r["at"])] == [
        ("LAST_GASP", int(OUTAGE[0].timestamp())),
        ("RESTORED", int(OUTAGE[1].timestamp())),
    ]


def _meter_rows(fleet: Fleet, title: bytes) -> list[CaptureRow]:
    return sorted(
        (
            r
            for r in fleet.rows
            if push_title(r.datagram) == title and r.source and r.source.startswith("10.0.0.")
        ),
        key=lambda r: r.received_at,
    )


def test_window_takes_reordered_pushes_and_refuses_copies(fleet: Fleet) -> None:
    title = next(iter(fleet.meters))
    rows = _meter_rows(fleet, title)[:20]
    swapped = [rows[0], rows[2], rows[1], *rows[3:], rows[5]]  # one overtaking, one copy
    within = decode_group(swapped, fleet.keys)
    assert [r[3] for r in within.rejected] == ["replayed"]
    strict = decode_group(swapped, fleet.keys, window=0)
    assert [r[3] for r in strict.rejected] == ["replayed", "replayed"]
    assert REPLAY_WINDOW > 3  # >= the pushes a meter sends in the 10-minute network budget


_KNOWN = bytes.fromhex("4D4D4D0000000AAA")
_HEADERS = st.sampled_from([b"", b"\x00\x01\x00\x01\x00\x01", b"\xdb\x08" + _KNOWN])


@st.composite
def _datagrams(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 2))
    body = draw(st.binary(max_size=120))
    if kind == 0:
        return body
    apdu = draw(_HEADERS) + body
    if kind == 2:  # a well-formed general-glo-ciphering header, then anything
        content = bytes((0x30,)) + draw(st.binary(min_size=4, max_size=4)) + body
        apdu = b"\xdb\x08" + _KNOWN + bytes((len(content) & 0x7F,)) + content
    return _wrap(apdu[:0xFFFF])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.floats(allow_nan=True), st.none() | st.text(max_size=8), _datagrams()),
        max_size=12,
    )
)
def test_any_datagram_bytes_only_yield_rejected_rows(rows: list[tuple[Any, ...]]) -> None:
    keys = {_KNOWN: _keys(3)}
    outcome = decode_group([CaptureRow(*r) for r in rows], keys)
    assert not outcome.readings
    assert not outcome.events
    assert outcome.duplicates == 0
    assert len(outcome.rejected) == len(rows)
    assert {r[3] for r in outcome.rejected} <= {str(r) for r in RejectReason}


@settings(max_examples=300, deadline=None)
@given(_datagrams() | st.binary(max_size=40))
def test_the_bucket_key_is_the_sender_title_whenever_there_is_one(datagram: bytes) -> None:
    title = push_title(datagram)
    if title is not None:  # rows of one meter always share a bucket
        assert meter_key(datagram) == title
    key = meter_key(datagram)
    assert key is None or len(key) == 8


def test_a_split_puts_each_meter_in_one_bucket(fleet: Fleet, tmp_path: Any) -> None:
    path = tmp_path / "capture.parquet"
    write_capture(path, fleet.rows, row_group_size=50)
    pieces = [split_capture(str(path), groups, 5) for groups in ([0, 1], None)]
    for tables in pieces:
        assert len(tables) == 5
        where: dict[bytes | None, set[int]] = {}
        for bucket, table in enumerate(tables):
            for key in table.column("meter").to_pylist():
                where.setdefault(key, set()).add(bucket)
        assert all(len(buckets) == 1 for buckets in where.values())
    assert sum(t.num_rows for t in pieces[1]) == len(fleet.rows)
    assert sum(t.num_rows for t in pieces[0]) == 100
