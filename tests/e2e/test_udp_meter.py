"""End to end: the simulated smart meter served over real UDP on loopback, read by our client."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import subprocess
import sys
import threading
import time

import pytest

from smartmeter_proto.echonet import EOJ, ESV, NODE_PROFILE, frame
from smartmeter_proto.echonet.properties import decode_property
from smartmeter_proto.errors import SessionError
from smartmeter_proto.sim.load_curve import SLOT_SECONDS, LoadCurve
from smartmeter_proto.sim.meter import METER_EOJ, SimulatedMeter, meter_node
from smartmeter_proto.transport.udp import EchonetClient, serve_node

pytestmark = pytest.mark.e2e

LOOPBACK = "127.0.0.1"


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_client_reads_every_readable_property_of_the_simulated_meter() -> None:
    frozen = 1_780_000_000.0  # a fixed instant, so values can be compared with the model
    meter = SimulatedMeter(curve=LoadCurve(seed=7, pv_peak_w=3000))

    async def scenario() -> None:
        node = meter_node(meter)
        async with serve_node(
            node, local=(LOOPBACK, 0), reply_port=None, clock=lambda: frozen
        ) as server:
            address = server.address
            async with EchonetClient.udp(local=(LOOPBACK, 0), timeout=1.0) as client:
                nodes = await client.discover(address)
                assert [n.instances for n in nodes] == [(METER_EOJ,)]
                get_map = (await client.get_values(address, METER_EOJ, [0x9F]))[0x9F]
                # Every 0x0288 property of the class file that the meter implements is readable.
                assert {0xD3, 0xD7, 0xE0, 0xE1, 0xE2, 0xE3, 0xE5, 0xE7, 0xE8, 0xEA} <= set(get_map)
                done = await client.get(address, METER_EOJ, get_map)
                assert done.ok, (done.refused, done.undecodable)
                assert set(done.values) == set(get_map)
                # The request was split under the response-size limit and merged again.
                assert len(done.responses) >= 2
                values = {epc: v.value for epc, v in done.values.items()}
                assert values[0xE7] == meter.curve.power_w(frozen)
                assert values[0xE0] == meter.counts(frozen)[0]
                assert values[0xE3] == meter.counts(frozen)[1]
                fixed = values[0xEA]
                assert fixed["timestamp"].minute in (0, 30)
                assert values[0xE1] == "0.1"
                assert values[0xD7] == 6
                profile = await client.get_values(address, NODE_PROFILE, [0xD3, 0xD6, 0xD7])
                assert profile == {0xD3: 1, 0xD6: (METER_EOJ,), 0xD7: (0x0288,)}

    run(scenario())


def test_history_day_set_then_read_and_refusals() -> None:
    async def scenario() -> None:
        meter = SimulatedMeter()
        async with serve_node(meter_node(meter), local=(LOOPBACK, 0), reply_port=None) as server:
            address = server.address
            async with EchonetClient.udp(local=(LOOPBACK, 0), timeout=1.0) as client:
                set_done = await client.set(address, METER_EOJ, {0xE5: 1})
                assert set_done.esv is ESV.SET_RES
                assert set_done.ok
                history = (await client.get_values(address, METER_EOJ, [0xE2]))[0xE2]
                assert history["day"] == 1
                readings = history["energy"]
                assert len(readings) == 48
                assert None not in readings
                assert list(readings) == sorted(readings)  # cumulative counts never decrease
                # 0xE7 is not settable: SetC_SNA echoes the EDT, nothing changes.
                refused = await client.set(address, METER_EOJ, {0xE7: 1})
                assert refused.esv is ESV.SETC_SNA
                assert refused.refused == (0xE7,)
                # An EPC the class does not have: Get_SNA with PDC 0.
                partial = await client.get(address, METER_EOJ, [0xE7, 0xF0])
                assert partial.esv is ESV.GET_SNA
                assert partial.refused == (0xF0,)
                assert 0xE7 in partial.values
                with pytest.raises(SessionError):
                    await client.get_values(address, METER_EOJ, [0xF0])

    run(scenario())


def test_bad_datagrams_are_dropped_counted_and_the_meter_keeps_answering() -> None:
    async def scenario() -> None:
        node = meter_node(SimulatedMeter())
        async with serve_node(node, local=(LOOPBACK, 0), reply_port=None) as server:
            address = server.address
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                raw.bind((LOOPBACK, 0))
                for junk in (
                    b"",
                    b"\x10\x81\x00",
                    b"\x10\x81\x00\x01\x05\xff\x01\x02\x88\x01\x62\x02\xe7\x00",
                    b"\xff" * 40,
                    bytes(range(256)),
                ):
                    raw.sendto(junk, address)
                await asyncio.sleep(0.2)
            assert server.session.dropped + node.dropped >= 5
            async with EchonetClient.udp(local=(LOOPBACK, 0), timeout=1.0) as client:
                values = await client.get_values(address, METER_EOJ, [0xE7, 0xE0])
                assert isinstance(values[0xE7], int)
                assert isinstance(values[0xE0], int)

    run(scenario())


def test_client_survives_garbage_and_gets_fixed_time_inf_every_half_hour() -> None:
    # Put the meter's clock 0.3 s before a half-hour boundary, so its INF of 0xEA is due at once.
    now = time.time()
    boundary = (math.floor(now / SLOT_SECONDS) + 1) * SLOT_SECONDS
    offset = boundary - now - 0.3

    def meter_clock() -> float:
        return time.time() + offset

    async def scenario() -> None:
        meter = SimulatedMeter()
        async with EchonetClient.udp(local=(LOOPBACK, 0), timeout=1.0) as client:
            assert client.link is not None
            link_address = client.link.address
            node = meter_node(meter, now=meter_clock())
            async with serve_node(node, local=(LOOPBACK, 0), group=link_address, clock=meter_clock):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                    raw.sendto(b"\x10\x81garbage", link_address)
                startup = await asyncio.wait_for(client.driver.notifications.get(), 5)
                assert startup.frame.properties[0].epc == 0xD5  # instance list at start
                inf = await asyncio.wait_for(client.driver.notifications.get(), 5)
                assert inf.frame.esv is ESV.INF
                assert inf.frame.seoj == METER_EOJ
                value = inf.values[0]
                assert value.epc == 0xEA
                assert value.value["timestamp"].minute in (0, 30)
            assert client.driver.session.dropped >= 1

    run(scenario())


def test_decode_of_meter_answer_matches_property_codec() -> None:
    meter = SimulatedMeter()
    edt = meter.read(0xE8, 1_780_000_000.0)
    assert edt is not None
    answer = frame.Frame(1, METER_EOJ, EOJ(5, 0xFF, 1), ESV.GET_RES, (frame.Property(0xE8, edt),))
    decoded = frame.decode(frame.encode(answer))
    assert isinstance(decoded, frame.Frame)
    value = decode_property(0x0288, 0xE8, decoded.properties[0].edt).value
    assert set(value) == {"r_phase", "t_phase"}


def test_standard_ports_answers_go_to_3610_of_the_requester() -> None:
    # Both ends on port 3610, on two loopback addresses, as two hosts on a home LAN.
    meter_host, client_host = "127.0.0.31", "127.0.0.32"

    async def scenario() -> None:
        async with serve_node(meter_node(SimulatedMeter()), local=(meter_host, 3610)) as server:
            async with EchonetClient.udp(local=(client_host, 3610), timeout=1.0) as client:
                values = await client.get_values(meter_host, METER_EOJ, [0xD7, 0xE1])
                assert values == {0xD7: 6, 0xE1: "0.1"}
            assert server.session.dropped == 0

    run(scenario())


def test_ipv6_loopback() -> None:
    async def scenario() -> None:
        async with (
            serve_node(meter_node(SimulatedMeter()), local=("::1", 0), reply_port=None) as server,
            EchonetClient.udp(local=("::1", 0), timeout=1.0) as client,
        ):
            nodes = await client.discover(server.address)
            assert nodes[0].instances == (METER_EOJ,)
            assert nodes[0].address == server.address
            power = (await client.get_values(server.address, METER_EOJ, [0xE7]))[0xE7]
            assert isinstance(power, int)

    run(scenario())


# --------------------------------------------------------------------------- command line
def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    program = "import sys; from smartmeter_proto.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", program, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("probe", "127.0.0.1", "--timeout", "0"),
        ("probe", "127.0.0.1", "--timeout", "-1"),
        ("probe", "127.0.0.1:70000"),
        ("simulate", "meter", "--bind", "127.0.0.1:abc"),
        ("simulate", "meter", "--iot-headend", "nohost:zz"),
        ("simulate", "meter", "--bind", "300.1.1.1"),
        ("simulate", "meter", "--bind", "no-such-host.invalid"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv: tuple[str, ...]) -> None:
    done = _cli(*argv)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_simulate_meter_on_a_busy_address_fails_in_one_line() -> None:
    host = "127.0.0.33"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind((host, 0))
        port = busy.getsockname()[1]
        done = _cli("simulate", "meter", "--bind", f"{host}:{port}", "--duration", "5")
    assert done.returncode == 1
    assert done.stderr == f"error: address {host}:{port} is already in use\n"


def test_probe_prints_maps_in_hex_typed_values_and_json() -> None:
    meter_host, client_host = "127.0.0.34", "127.0.0.35"
    ready = threading.Event()
    stop = threading.Event()

    async def serve() -> None:
        async with serve_node(meter_node(SimulatedMeter()), local=(meter_host, 3610)):
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=lambda: asyncio.run(serve()))
    thread.start()
    try:
        assert ready.wait(5)
        common = (meter_host, "--bind", client_host, "--timeout", "2")  # answers come to 3610
        text = _cli("probe", *common)
        assert text.returncode == 0, text.stderr
        lines = {
            line.split()[0] + line.split()[1]: line
            for line in text.stdout.splitlines()
            if line.startswith("  0x")
        }
        assert "0x80, 0x81, 0x88" in lines["0x9Dstatus_change_announcement_property_map"]
        assert (
            "0x0288 (Low-voltage smart electric energy meter)" in lines["0xD7self_node_class_list"]
        )
        as_json = _cli("probe", *common, "--json")
        assert as_json.returncode == 0, as_json.stderr
        report = json.loads(as_json.stdout)
        meter = next(o for o in report["objects"] if o["eoj"] == "028801")
        props = {p["epc"]: p for p in meter["properties"]}
        assert props["0x9F"]["value"][:3] == ["0x80", "0x81", "0x82"]
        assert isinstance(props["0xE7"]["value"], int)
        assert props["0xE7"]["unit"] == "W"
        assert props["0xD7"]["value"] == 6
        profile = next(o for o in report["objects"] if o["eoj"] == "0EF001")
        class_list = next(p for p in profile["properties"] if p["epc"] == "0xD7")
        assert class_list["value"] == ["0x0288"]
    finally:
        stop.set()
        thread.join(5)
