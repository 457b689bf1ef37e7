"""Stateful harnesses: one session, collector, channel or parser kept across many inputs.

    python fuzz/stateful.py                                   # every subject, 10 000 inputs
    python fuzz/stateful.py --inputs 2000 --subjects iot_headend,echonet_node --seed 3

Each subject builds one long-lived object and feeds it mutants of a target's corpus (the
same mutators as ``smoke.py``), with the clock moving on between inputs. Invariants:

- no exception escapes (the objects promise to drop bad input, never to raise);
- after a warm-up (10 % of the inputs, at least 200), the ``tracemalloc`` memory of the
  process grows by at most the subject's budget over the rest of the run. The process-wide
  decoder caches (compiled ECHONET shapes, interned EOJs, A-XDR dates) are emptied at both
  measuring points, so what is measured is the objects' own state; the caches' own
  budgets are checked by ``tests/echonet/test_caches.py`` (fuzz/README.md, "Budgets").

Deterministic for a seed: a failure names the subject, seed and input index; rerun it with
the same arguments. Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from _harness import get_target, seeds
from mutators import mutate

#: Default budget of a subject's own state growth over a run, bytes.
DEFAULT_BUDGET: Final = 256 * 1024
T0: Final = 1_777_561_200.0


@dataclass(frozen=True, slots=True)
class Subject:
    """A long-lived object: ``make()`` returns the function that feeds it one input."""

    name: str
    #: The fuzz target whose corpus seeds the mutants (and its mutator family, prefix).
    corpus: str
    make: Callable[[], Callable[[bytes, int], object]]
    budget: int = DEFAULT_BUDGET
    what: str = ""


def _warm_meter(receive: Callable[[bytes], object]) -> None:
    """Ask the simulated meter for every day of its history (E5 0..99, then E2 and E4).

    Its load curve computes slots on first use and keeps them (the simulation's own
    state, bounded by the history window); asking once here keeps it out of the growth.
    """
    from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property, encode

    controller, meter = EOJ(0x05, 0xFF, 0x01), EOJ(0x02, 0x88, 0x01)
    for day in range(100):
        receive(encode(Frame(1, controller, meter, ESV.SETC, (Property(0xE5, bytes((day,))),))))
        receive(encode(Frame(2, controller, meter, ESV.GET, (Property(0xE2), Property(0xE4)))))


def _echonet_session() -> Callable[[bytes, int], object]:
    from smartmeter_proto.echonet.frame import EOJ
    from smartmeter_proto.echonet.session import Session
    from smartmeter_proto.sim.meter import meter_node

    session = Session(first_tid=1, node=meter_node(now=0.0), retries=1)
    peer = ("fe80::c2f9:4500:4058:b5fb", 3610)
    meter = EOJ(0x02, 0x88, 0x01)
    _warm_meter(lambda data: session.receive_data(data, peer, 0.0))
    session.datagrams_to_send()

    def feed(data: bytes, index: int) -> object:
        now = index * 0.5
        if index % 40 == 0:  # every 20 s: an unanswered Get gives up after 2 x 5 s
            session.get(peer, meter, (0x80, 0xE7), now)
        session.datagrams_to_send()
        events = session.receive_data(data, peer, now + 0.1)
        events += session.handle_timeout(now + 0.4)
        session.datagrams_to_send()
        return events

    return feed


def _echonet_node() -> Callable[[bytes, int], object]:
    from smartmeter_proto.sim.meter import meter_node

    node = meter_node(now=0.0)
    _warm_meter(lambda data: node.receive_data(data, ("192.0.2.1", 3610), 0.0))
    node.datagrams_to_send()

    def feed(data: bytes, index: int) -> object:
        events = node.receive_data(data, (f"192.0.2.{index % 256}", 3610), index * 0.1)
        node.datagrams_to_send()
        return events

    return feed


def _hes_collector() -> Callable[[bytes, int], object]:
    import dlms_sealed

    from smartmeter_proto.aroute import wrapper
    from smartmeter_proto.hes.collector import Collector, MeterInfo
    from smartmeter_proto.hes.push import MeterKeys
    from smartmeter_proto.hes.storage import MEMORY, Store

    ek, ak, titles = dlms_sealed.EK, dlms_sealed.AK, dlms_sealed.TITLES
    infos = [MeterInfo(t, MeterKeys(ek, ak), ("meter", i)) for i, t in enumerate(titles)]
    collector = Collector(infos, Store(MEMORY), system_title=dlms_sealed.HES_TITLE, start=T0)

    def feed(data: bytes, index: int) -> object:
        now = T0 + 60.0 * index
        if index % 500 == 0:
            collector.confirm_all(now, now)
        meter = index & 1
        sealed = dlms_sealed.seal(data[1:], titles[meter], 1000 + index, False)
        datagram = wrapper.encode(wrapper.WrapperFrame(1, 1, sealed))
        collector.receive_datagram(datagram, ("meter", meter), now)
        collector.datagrams_to_send()
        collector.handle_timeout(now + 30.0)
        stats = collector.stats
        if stats.pushes + sum(stats.dropped.values()) > stats.datagrams:
            raise AssertionError("more outcomes than datagrams")
        return stats

    return feed


def _dlms_association() -> Callable[[bytes, int], object]:
    import dlms_sealed

    from smartmeter_proto.aroute.obis import Obis

    pair = dlms_sealed.Sealed().pair()

    def feed(data: bytes, index: int) -> object:
        client, server = pair
        option, plain = (data[0], data[1:]) if data else (0, b"")
        if option & 1:
            server.receive(
                dlms_sealed.seal(
                    plain, dlms_sealed.HES_TITLE, client.counter.next(), bool(option & 8)
                ),
                dlms_sealed.NOW,
            )
            for answer in server.apdus_to_send():
                client.receive(answer, float(index))
        else:
            if index % 8 == 0:
                client.get(Obis(1, 0, 1, 8, 0, 255), 3, 2)
                client.apdus_to_send()
            client.receive(
                dlms_sealed.seal(
                    plain, dlms_sealed.TITLES[0], server.counter.next(), bool(option & 8)
                ),
                float(index),
            )
        client.handle_timeout(float(index) + 0.5)
        client.apdus_to_send()
        return client.events()

    return feed


def _iot_headend() -> Callable[[bytes, int], object]:
    import iot_sealed

    from smartmeter_proto.iot.headend import HeadEnd
    from smartmeter_proto.security_state import MemoryStateStore

    headend = HeadEnd([iot_sealed.keys()], state_store=MemoryStateStore())

    def feed(data: bytes, index: int) -> object:
        now = T0 + 60.0 * index
        plain = data[1:]
        events = headend.receive_datagram(
            iot_sealed.seal(plain, uplink=True, seq=1 + index), iot_sealed.METER, now
        )
        headend.datagrams_to_send()
        events += headend.handle_timeout(now + 30.0)
        headend.datagrams_to_send()
        return events

    return feed


def _iot_meter() -> Callable[[bytes, int], object]:
    import iot_sealed

    from smartmeter_proto.iot.frame import MeterKind
    from smartmeter_proto.security_state import MemoryStateStore
    from smartmeter_proto.sim.iotmeter import SimulatedIotMeter

    meter = SimulatedIotMeter(
        iot_sealed.keys(),
        MeterKind.GAS,
        headend=iot_sealed.HEADEND,
        start=T0,
        state_store=MemoryStateStore(),
    )
    filled = T0 + 1800.0 * (meter.store.capacity + 1)  # the store full: its steady state
    meter.handle_timeout(filled)
    meter.datagrams_to_send()
    meter.stop_readings()  # its ``produced`` log (a test oracle) keeps every reading

    def feed(data: bytes, index: int) -> object:
        now = filled + 600.0 * index
        meter.handle_timeout(now)
        meter.datagrams_to_send()
        meter.receive_datagram(
            iot_sealed.seal(data[1:], uplink=False, seq=1 + index), iot_sealed.HEADEND, now
        )
        return meter.datagrams_to_send()

    return feed


def _lowpan_reassembler() -> Callable[[bytes, int], object]:
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun.radio import lowpan

    reassembler = lowpan.Reassembler()

    def feed(data: bytes, index: int) -> object:
        try:
            return reassembler.feed(data, index * 0.05)
        except DecodeError as exc:
            return exc

    return feed


def _stream_parsers() -> Callable[[bytes, int], object]:
    from smartmeter_proto.aroute import hdlc, wrapper
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun import j11

    parsers: dict[str, Any] = {
        "hdlc": hdlc.HdlcParser(),
        "wrapper": wrapper.WrapperParser(),
        "j11": j11.FrameParser(),
    }

    def feed(data: bytes, index: int) -> object:
        out: list[object] = list(parsers["hdlc"].feed(data))
        out += parsers["j11"].feed(data)
        try:
            out += parsers["wrapper"].feed(data)
        except DecodeError:
            parsers["wrapper"] = wrapper.WrapperParser()  # a failed stream is dropped whole
        return out

    return feed


SUBJECTS: Final = {
    s.name: s
    for s in (
        Subject(
            "echonet_session",
            "echonet_session",
            _echonet_session,
            what="one Session (its node, a Get every 20 s) across datagrams",
        ),
        Subject(
            "echonet_node",
            "echonet_node",
            _echonet_node,
            what="one simulated meter Node, 256 peer addresses",
        ),
        Subject(
            "hes_collector",
            "dlms_sealed",
            _hes_collector,
            budget=512 * 1024,
            what="one Collector, sealed pushes from two meters, a minute apart",
        ),
        Subject(
            "dlms_association",
            "dlms_sealed",
            _dlms_association,
            what="one associated client/server pair, sealed requests and answers",
        ),
        Subject(
            "iot_headend",
            "iot_sealed",
            _iot_headend,
            budget=512 * 1024,
            what="one HeadEnd (channel, back-fill collector), sealed uplink frames",
        ),
        Subject(
            "iot_meter",
            "iot_sealed",
            _iot_meter,
            what="one simulated IoT meter (channel, store), sealed downlink frames",
        ),
        Subject(
            "lowpan_reassembler",
            "lowpan_frame",
            _lowpan_reassembler,
            what="one 6LoWPAN Reassembler (bounded partial datagrams)",
        ),
        Subject(
            "stream_parsers",
            "dlms_framing",
            _stream_parsers,
            what="one HDLC, wrapper and J11 stream parser, inputs as successive chunks",
        ),
    )
}


def _clear_process_caches() -> None:
    """Empty the process-wide decoder caches (they have budgets of their own)."""
    from smartmeter_proto.aroute.axdr import dates as axdr_datetime
    from smartmeter_proto.echonet import frame, typed

    typed._SHAPES.clear()
    typed._SIGHTED.clear()
    typed._last[0] = typed._NO_SHAPE
    frame._EOJ_CACHE.clear()
    axdr_datetime._DAYS.clear()
    gc.collect()


@dataclass(frozen=True, slots=True)
class Result:
    subject: str
    inputs: int
    seconds: float
    growth: int
    budget: int
    failure: str | None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.growth <= self.budget


def run(subject: Subject, *, inputs: int = 10_000, seed: int = 0) -> Result:
    """Feed ``inputs`` mutants to one object; measure its growth after the warm-up."""
    target = get_target(subject.corpus)  # warms the target's caches like the other runners
    pool = seeds(subject.corpus) or [b""]
    rng = random.Random(f"stateful:{subject.name}:{seed}")
    feed = subject.make()
    warmup = max(200, inputs // 10)
    start = time.perf_counter()
    baseline = 0
    failure: str | None = None
    index = 0
    try:
        for index in range(inputs):
            if index == warmup:
                _clear_process_caches()
                tracemalloc.start()
                baseline = tracemalloc.get_traced_memory()[0]
            feed(mutate(target.family, pool, rng, prefix=target.prefix), index)
    except Exception:
        failure = f"input {index} (seed {seed}): {traceback.format_exc()}"
    growth = 0
    if tracemalloc.is_tracing():
        _clear_process_caches()
        growth = tracemalloc.get_traced_memory()[0] - baseline
        tracemalloc.stop()
    return Result(
        subject.name, index + 1, time.perf_counter() - start, growth, subject.budget, failure
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subjects", default=",".join(SUBJECTS))
    args = parser.parse_args(argv)
    names = [n for n in args.subjects.split(",") if n]
    unknown = sorted(set(names) - set(SUBJECTS))
    if unknown:
        parser.error(f"unknown subjects: {', '.join(unknown)}; known: {', '.join(SUBJECTS)}")
    failed = False
    for name in names:
        result = run(SUBJECTS[name], inputs=args.inputs, seed=args.seed)
        status = "ok" if result.ok else "FAIL"
        print(
            f"{name:19} {result.inputs:6} inputs in {result.seconds:5.1f} s, "
            f"growth {result.growth / 1024:7.1f} KiB (budget {result.budget // 1024} KiB): "
            f"{status}",
            flush=True,
        )
        if result.failure:
            print(result.failure, file=sys.stderr)
        failed |= not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
