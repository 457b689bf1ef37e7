"""End to end: ``simulate device`` with several classes on loopback UDP, read and set by our client.

The node runs as the real command in its own process; the client reads every
readable property of every object and sets every settable one through the UDP
path, then sees the INF of each status change (properties of 0x9D).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from smartmeter_proto.echonet.frame import EOJ, ESV
from smartmeter_proto.echonet.node import NODE_PROFILE
from smartmeter_proto.echonet.specs import load_class
from smartmeter_proto.errors import EncodeError
from smartmeter_proto.sim.device import alternative_edt
from smartmeter_proto.transport.udp import EchonetClient

pytestmark = pytest.mark.e2e

CLIENT_HOST = "127.0.0.71"
DEVICE_HOST = "127.0.0.72"
PORT = 3610
#: Battery + PV + multi-input PCS sharing a node, and two air conditioners.
CLASSES = ("0x027D", "0x0279", "0x02A5", "0x0130", "0x0130")
EXPECTED = (
    EOJ(0x02, 0x7D, 1),
    EOJ(0x02, 0x79, 1),
    EOJ(0x02, 0xA5, 1),
    EOJ(0x01, 0x30, 1),
    EOJ(0x01, 0x30, 2),
)
#: Answers on loopback take milliseconds; this only guards against a hang.
TIMEOUT_S = 2.0
_T = TypeVar("_T")


def run(coro: Awaitable[_T]) -> _T:
    async def bounded() -> _T:
        return await asyncio.wait_for(coro, 240)

    return asyncio.run(bounded())


@pytest.fixture
def device() -> subprocess.Popen[str]:
    args = [f"--class={c}" for c in CLASSES]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartmeter_proto",
            "simulate",
            "device",
            *args,
            "--bind",
            f"{DEVICE_HOST}:{PORT}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    assert "listening on" in banner, banner + (proc.stderr.read() if proc.poll() else "")
    yield proc
    proc.terminate()
    proc.wait(timeout=10)


def test_client_reads_and_sets_every_property_and_sees_each_inf(
    device: subprocess.Popen[str],
) -> None:
    address = (DEVICE_HOST, PORT)
    when = dt.datetime(2025, 1, 1, 12, 0)

    async def scenario() -> None:
        async with EchonetClient.udp(local=(CLIENT_HOST, PORT), timeout=TIMEOUT_S) as client:
            nodes = await client.discover(address)
            assert [n.instances for n in nodes] == [EXPECTED]
            profile = await client.get_values(address, NODE_PROFILE, [0xD3, 0xD4, 0xD6, 0xD7])
            assert profile[0xD3] == len(EXPECTED)
            assert profile[0xD4] == 5  # four device classes and the node profile
            assert set(profile[0xD7]) == {0x027D, 0x0279, 0x02A5, 0x0130}
            settable_total = 0
            for eoj in EXPECTED:
                spec = load_class(eoj.class_id)
                assert spec is not None
                maps = await client.get_values(address, eoj, [0x9D, 0x9E, 0x9F])
                assert set(spec.mandatory_epcs("get")) <= set(maps[0x9F])
                done = await client.get(address, eoj, maps[0x9F])
                assert done.ok, (eoj, done.refused, done.undecodable)
                for epc, value in done.values.items():
                    assert spec.properties[epc].data_type.in_range(value.value), (eoj, epc)
                for epc in maps[0x9E]:
                    prop = spec.properties[epc]
                    current = done.values[epc].edt if epc in done.values else b""
                    new = alternative_edt(prop, current, when)
                    assert new is not None, (eoj, hex(epc))
                    typed = prop.data_type.decode(new)
                    answer = await client.set(address, eoj, {epc: typed})
                    assert answer.esv is ESV.SET_RES, (eoj, hex(epc), answer)
                    settable_total += 1
                    if epc in maps[0x9D] and "get" in prop.access:
                        await _expect_inf(client, eoj, epc, new)
                        after = await client.get(address, eoj, [epc])
                        assert after[epc].edt == new
            assert settable_total >= 20
            # A typed value out of range never reaches the wire.
            sent_before = client.driver.session.pending
            with pytest.raises(EncodeError):
                await client.set(address, EXPECTED[3], {0xB3: 200})  # set temperature 0..50
            assert client.driver.session.pending == sent_before

    run(scenario())


async def _expect_inf(client: EchonetClient, eoj: EOJ, epc: int, edt: bytes) -> None:
    queue = client.driver.notifications
    while True:
        note = await asyncio.wait_for(queue.get(), TIMEOUT_S * 5)
        if note.frame.seoj == eoj and any(
            p.epc == epc and p.edt == edt for p in note.frame.properties
        ):
            return


def test_bad_class_is_one_line_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smartmeter_proto", "simulate", "device", "--class", "0x0EF0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert done.stderr.count("\n") == 1


def test_client_reads_and_sets_by_property_name(device: subprocess.Popen[str]) -> None:
    address = (DEVICE_HOST, PORT)
    aircon = EXPECTED[3]

    async def scenario() -> None:
        async with EchonetClient.udp(local=(CLIENT_HOST, PORT), timeout=TIMEOUT_S) as client:
            await client.discover(address)
            done = await client.set(
                address, aircon, {"operationStatus": True, "targetTemperature": 25}
            )
            assert done.esv is ESV.SET_RES
            read = await client.get_values(
                address, aircon, ["operationStatus", "target_temperature", 0xB3]
            )
            assert read == {"operationStatus": "on", "target_temperature": 25, 0xB3: 25}
            # The example: EPCs with typed values (an enum label, an integer).
            done = await client.set(address, aircon, {0x80: "off", 0xB3: 22})
            assert done.esv is ESV.SET_RES
            after = await client.get(address, aircon, ["operationStatus", "targetTemperature"])
            assert after[0x80].value == "off"
            assert after[0xB3].value == 22
            sent_before = client.driver.session.pending
            with pytest.raises(ValueError, match=r"0x0130 .*'noSuchProperty'"):
                await client.set(address, aircon, {"noSuchProperty": 1})
            with pytest.raises(ValueError, match=r"0x0130 .*'noSuchProperty'"):
                await client.get(address, aircon, ["noSuchProperty"])
            assert client.driver.session.pending == sent_before

    run(scenario())
