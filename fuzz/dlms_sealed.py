"""Fuzz what sits behind AES-GCM on the A-route: mutated plaintext, sealed with the real keys.

The input is a plaintext xDLMS APDU behind one option byte. The plaintext is ciphered with
``aroute.security.protect`` (security suite 0, SC 0x30, the sender's system title and a
fresh invocation counter), so every mutant passes authentication and reaches the parser
and the state machine behind it:

- (option & 7) % 3 == 0, the head end's push path: general-glo-ciphering from meter 0's title, in
  a wrapper frame, to ``hes.collector.Collector.receive_datagram`` (two provisioned meters,
  their back-fill sessions waiting for an AARE). It never raises; outcomes never exceed
  datagrams.
- (option & 7) % 3 == 1, the meter: an ``AssociationServer`` (the simulated meter's objects)
  associated with a ciphering ``AssociationClient``; the plaintext comes from the client's
  title, general-glo-ciphering or (option bit 3) the glo- tag of its service, and the
  server's answers go back to the client. ``receive`` never raises on either side.
- (option & 7) % 3 == 2, the head end's association client: it has a Get in flight; the
  plaintext comes from the server's title as its answer (or a push), then the client times
  out. ``receive``/``handle_timeout`` never raise.

Input: option byte, plaintext APDU. Run ``python fuzz/dlms_sealed.py`` (atheris) or
``--fallback``. Seeds: ``python -c "import dlms_sealed as m; m.write_seeds()"`` in fuzz/.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from _harness import CORPUS_DIR, Target, main

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLES = (bytes.fromhex("4D4D4D0000BC614E"), bytes.fromhex("4D4D4D0000BC614F"))
HES_TITLE = b"HES\x00\x00\x00\x00\x01"
T0 = 1_777_561_200.0  # 2026-05-01 00:00 JST
NOW = datetime.fromtimestamp(T0 + 3600, UTC)
#: glo- tag of each plaintext service tag (IEC 62056-5-3 xDLMS ASN.1).
GLO_TAG = {0xC0: 0xC8, 0xC1: 0xC9, 0xC2: 0xCA, 0xC3: 0xCB, 0xC4: 0xCC, 0xC5: 0xCD, 0xC7: 0xCF}
ROUTES = ("push", "server", "client")


class Sealed:
    """The receivers of the three routes, built fresh per input over shared meter objects."""

    def __init__(self) -> None:
        from smartmeter_proto.security_state import MemoryStateStore
        from smartmeter_proto.sim.ameter import SimulatedAMeter

        meter = SimulatedAMeter(
            start=datetime.fromtimestamp(T0, UTC),
            system_title=TITLES[0],
            client_system_title=HES_TITLE,
            ek=EK,
            ak=AK,
            state=MemoryStateStore(),
        )
        self.objects = meter.objects  # a Get reads them; a LOWEST-level client cannot write

    def pair(self) -> tuple[Any, Any]:
        """A ciphering client associated with the meter's server (LN with ciphering)."""
        from smartmeter_proto.aroute.association import AssociationClient, AssociationServer
        from smartmeter_proto.security_state import MemoryStateStore, SendCounter

        server = AssociationServer(
            self.objects,
            system_title=TITLES[0],
            ek=EK,
            ak=AK,
            counter=SendCounter(MemoryStateStore(), "server"),
            challenge=lambda: b"S" * 16,
        )
        client = AssociationClient(
            system_title=HES_TITLE,
            ek=EK,
            ak=AK,
            server_system_title=TITLES[0],
            counter=SendCounter(MemoryStateStore(), "client"),
            challenge=lambda: b"C" * 16,
        )
        client.associate(0.0)
        exchange(client, server)
        return client, server


def exchange(client: Any, server: Any) -> None:
    """Carry APDUs both ways until neither side has anything to send (at most 16 rounds)."""
    for _ in range(16):
        out = client.apdus_to_send()
        back = server.apdus_to_send()
        if not out and not back:
            break
        for apdu in out:
            server.receive(apdu, NOW)
        for apdu in back + server.apdus_to_send():
            client.receive(apdu, 1.0)
    client.events()


def seal(plain: bytes, title: bytes, counter: int, service_specific: bool) -> bytes:
    from smartmeter_proto.aroute.security import protect

    tag = GLO_TAG.get(plain[0]) if service_specific and plain else None
    return protect(
        plain,
        security_control=0x30,
        system_title=title,
        invocation_counter=counter,
        ek=EK,
        ak=AK,
        service_tag=tag,
    )


def push(data: bytes) -> object:
    """The collector of ``hes_collector`` receives ``data`` sealed as meter 0's push."""
    from smartmeter_proto.aroute import wrapper
    from smartmeter_proto.hes.collector import Collector, MeterInfo
    from smartmeter_proto.hes.push import MeterKeys
    from smartmeter_proto.hes.storage import MEMORY, Store

    infos = [MeterInfo(t, MeterKeys(EK, AK), ("meter", i)) for i, t in enumerate(TITLES)]
    collector = Collector(infos, Store(MEMORY), system_title=HES_TITLE, start=T0)
    collector.confirm_all(T0 + 3600, T0 + 3600)
    collector.datagrams_to_send()
    sealed = seal(data, TITLES[0], 1000, False)
    collector.receive_datagram(
        wrapper.encode(wrapper.WrapperFrame(1, 1, sealed)), ("meter", 0), T0 + 3600
    )
    collector.datagrams_to_send()
    collector.handle_timeout(T0 + 7200)
    collector.finish()
    stats = collector.stats
    if stats.pushes + sum(stats.dropped.values()) > stats.datagrams:
        raise AssertionError("more outcomes than datagrams")
    return stats


def build() -> Target:
    sealed = Sealed()

    def call(data: bytes) -> object:
        if not data:
            return None
        option, plain = data[0], data[1:]
        route = ROUTES[(option & 7) % 3]
        if route == "push":
            return push(plain)
        client, server = sealed.pair()
        if route == "server":
            server.receive(seal(plain, HES_TITLE, client.counter.next(), bool(option & 8)), NOW)
            for answer in server.apdus_to_send():
                client.receive(answer, 2.0)
            return client.events(), server.stats
        from smartmeter_proto.aroute.obis import Obis

        client.get(Obis(1, 0, 1, 8, 0, 255), 3, 2)
        client.apdus_to_send()
        client.receive(seal(plain, TITLES[0], server.counter.next(), bool(option & 8)), 2.0)
        client.handle_timeout(60.0)
        return client.events(), client.stats

    return Target("dlms_sealed", call, (), "bytes", prefix=1)


def seeds() -> dict[str, bytes]:
    """The dlms_apdu corpus (xDLMS plaintexts) on every route, and the meter's push bodies."""
    from smartmeter_proto.aroute import wrapper
    from smartmeter_proto.aroute.security import InvocationCounters, unprotect

    out: dict[str, bytes] = {}
    for path in sorted((CORPUS_DIR / "dlms_apdu").iterdir()):
        plain = path.read_bytes()
        if not plain or (not 0xC0 <= plain[0] <= 0xDF and plain[0] != 0x0F):
            continue  # ACSE and ciphered APDUs are not sealed again
        for option, route in enumerate(ROUTES):
            out[f"{route}-{path.name}"] = bytes((option,)) + plain
        out[f"server-glo-{path.name}"] = bytes((1 | 8,)) + plain
    for path in sorted((CORPUS_DIR / "hes_collector").iterdir()):
        record = path.read_bytes()
        if not path.name.startswith("push-") or len(record) < 2:
            continue
        try:
            apdu = wrapper.decode(record[2 : 2 + record[1]]).apdu
            plain = unprotect(apdu, ek=EK, ak=AK, counters=InvocationCounters()).apdu
        except Exception:
            continue
        out[f"push-body-{path.name}"] = b"\x00" + plain
        out[f"client-push-body-{path.name}"] = b"\x02" + plain
    out["edge-empty-plaintext"] = b"\x00"
    out["edge-empty-server"] = b"\x01"
    return out


def write_seeds() -> None:
    folder = CORPUS_DIR / "dlms_sealed"
    folder.mkdir(exist_ok=True)
    for name, data in seeds().items():
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    sys.exit(main("dlms_sealed"))
