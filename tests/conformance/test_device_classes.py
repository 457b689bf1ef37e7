"""The conformance runner passes against ``simulate device`` for the home-appliance classes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from smartmeter_proto.conformance import Outcome, RunConfig, run_conformance
from smartmeter_proto.sim.device import device_node, instances
from smartmeter_proto.transport.udp import EchonetClient, serve_node

pytestmark = pytest.mark.e2e

CLIENT_HOST = "127.0.0.81"
DEVICE_HOST = "127.0.0.82"
TIMEOUT_S = 0.5
_T = TypeVar("_T")


def run(coro: Awaitable[_T]) -> _T:
    async def bounded() -> _T:
        return await asyncio.wait_for(coro, 120)

    return asyncio.run(bounded())


@pytest.mark.parametrize(
    "classes",
    [[0x0130], [0x026B], [0x027D], [0x0279], [0x0290, 0x0291]],
    ids=["air_conditioner", "water_heater", "storage_battery", "pv", "lighting"],
)
def test_conformance_passes_against_simulated_device(classes: list[int]) -> None:
    async def scenario() -> None:
        node = device_node(classes)
        async with (
            serve_node(node, local=(DEVICE_HOST, 3610)) as server,
            EchonetClient.udp(local=(CLIENT_HOST, 3610), timeout=TIMEOUT_S, retries=1) as client,
        ):
            config = RunConfig(response_bound_s=5.0, allow_writes=True)
            report = await run_conformance(client, server.address, config)
        assert report.complete
        assert report.ok, [
            (r.check_id, r.subject, r.reason) for r in report.results if r.outcome is Outcome.FAIL
        ]
        checked = {r.subject for r in report.results if r.outcome is Outcome.PASS}
        assert len(checked) == len(classes) + 1  # every object and the node profile
        # Every device object passes the class-rule checks themselves (no skip).
        devices = [str(eoj) for eoj in instances(classes)]
        by_key = {(r.check_id, r.subject): r for r in report.results}
        for check_id in (
            "object.property_maps",
            "object.mandatory_get",
            "object.values_in_range",
            "object.set_accepted",
            "object.status_inf",
        ):
            for subject in devices:
                result = by_key[(check_id, subject)]
                assert result.outcome is Outcome.PASS, (check_id, subject, result.reason)
        # The harmless installation location was the property changed for the INF.
        assert all("INF of 0x81" in by_key[("object.status_inf", s)].reason for s in devices)

    run(scenario())


def test_a_client_learns_the_release_the_simulated_device_reports() -> None:
    async def scenario() -> None:
        node = device_node([0x0290])
        async with (
            serve_node(node, local=(DEVICE_HOST, 3610)) as server,
            EchonetClient.udp(local=(CLIENT_HOST, 3610), timeout=TIMEOUT_S, retries=1) as client,
        ):
            eoj = instances([0x0290])[0]
            done = await client.get(server.address, eoj, [0x82, 0xB1])
            assert done.values[0x82].edt == b"\x00\x00R\x01"  # Release R, revision 1
            releases = client.driver.session.releases
            assert list(releases.values()) == ["R"]

    run(scenario())
