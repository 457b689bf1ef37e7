"""The conformance runner over loopback UDP: a good meter passes, planted faults are named."""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from smartmeter_proto.cli import conformance as cli_conformance
from smartmeter_proto.conformance import (
    CHECKS,
    Outcome,
    Report,
    RunConfig,
    junit_xml,
    run_conformance,
    text_report,
)
from smartmeter_proto.conformance.runner import malformed_frames
from smartmeter_proto.echonet import frame as _frame
from smartmeter_proto.echonet.frame import EOJ, ESV
from smartmeter_proto.echonet.node import NODE_PROFILE
from smartmeter_proto.errors import DecodeError
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.meter import METER_EOJ, SimulatedMeter, meter_node
from smartmeter_proto.transport.udp import EchonetClient, serve_node
from smartmeter_proto.wisun.dongle_models import DONGLE_MODELS as MODELS

sys.path.insert(0, str(Path(__file__).parent))
import broken_device as bd

pytestmark = pytest.mark.e2e

#: Distinct loopback addresses for this module: the client, and the device under test.
CLIENT_HOST = "127.0.0.61"
DEVICE_HOST = "127.0.0.62"
#: Short timers keep the run quick: silence costs (retries + 1) × timeout.
TIMEOUT_S = 0.25
#: Loopback answers take milliseconds; the slow device is well past the bound.
RESPONSE_BOUND_S = 0.2
SLOW_DELAY_S = 0.3
_T = TypeVar("_T")


def run(coro: Awaitable[_T]) -> _T:
    async def bounded() -> _T:
        return await asyncio.wait_for(coro, 30)

    return asyncio.run(bounded())


async def _with_client(
    body: Callable[[EchonetClient], Awaitable[_T]], timeout: float = TIMEOUT_S
) -> _T:
    async with EchonetClient.udp(local=(CLIENT_HOST, 0), timeout=timeout, retries=1) as client:
        return await body(client)


def _against_simulated_meter(config: RunConfig) -> Report:
    async def body(client: EchonetClient) -> Report:
        assert client.link is not None
        node = meter_node(SimulatedMeter(announce_fixed_time=False))
        async with serve_node(
            node, local=(DEVICE_HOST, 0), reply_port=None, group=client.link.address
        ) as server:
            # Answer times on a virtual clock: a loaded machine cannot fail the bound.
            return await run_conformance(client, server.address, config, clock=VirtualClock(0.0))

    return run(_with_client(body))


def _against_broken(faults: set[str], config: RunConfig | None = None) -> Report:
    slow = bd.SLOW in faults
    # The runner times answers on this clock; the slow meter moves it by its delay.
    clock = VirtualClock(0.0)

    async def body(client: EchonetClient) -> Report:
        assert client.link is not None
        async with bd.serve_broken(
            bd.BrokenNode(faults),
            local=(DEVICE_HOST, 0),
            announce_to=client.link.address,
            delay=SLOW_DELAY_S if slow else 0.0,
            slow_class=METER_EOJ.class_id,
            clock=clock,
        ) as address:
            return await run_conformance(
                client,
                address,
                config or RunConfig(response_bound_s=RESPONSE_BOUND_S, allow_writes=True),
                clock=clock,
            )

    return run(_with_client(body))


def test_simulated_meter_passes_every_check() -> None:
    report = _against_simulated_meter(
        RunConfig(response_bound_s=RESPONSE_BOUND_S, allow_writes=True)
    )
    text = text_report(report)
    assert report.ok, text
    assert report.failing() == []
    by_key = {(r.check_id, r.subject): r for r in report.results}
    # Every object check ran on the node profile and on the meter.
    for check_id in CHECKS:
        if check_id.startswith("object."):
            assert (check_id, str(NODE_PROFILE)) in by_key
            assert (check_id, str(METER_EOJ)) in by_key
    assert by_key[("node.reachable", str(NODE_PROFILE))].reason == "instance list: 028801"
    # The meter's status change (0x81, in both 0x9D and 0x9E) was announced and restored.
    assert by_key[("object.status_inf", str(METER_EOJ))].outcome is Outcome.PASS
    assert "INF of 0x81" in by_key[("object.status_inf", str(METER_EOJ))].reason
    # The class rules: values in range, settable properties take their own value back.
    for check_id in ("object.values_in_range", "object.set_accepted"):
        assert by_key[(check_id, str(METER_EOJ))].outcome is Outcome.PASS, check_id
    assert "0x81" in by_key[("object.set_accepted", str(METER_EOJ))].reason
    # The node profile has nothing settable: a skip, with its reason.
    profile_inf = by_key[("object.status_inf", str(NODE_PROFILE))]
    assert profile_inf.outcome is Outcome.SKIP
    assert "0x9E" in profile_inf.reason
    assert by_key[("fuzz.alive", "node")].outcome is Outcome.SKIP
    assert "PASS  object.sna_unknown_epc" in text


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (bd.MISSING_MANDATORY, {"object.mandatory_get", "object.property_maps"}),
        (bd.REFUSED_IN_GET_MAP, {"object.get_map_readable"}),
        (bd.SILENT_SNA, {"object.sna_unknown_epc"}),
        (bd.WRONG_TID, {"object.tid_seoj_echo"}),
        (bd.SETC_ACCEPTS_READ_ONLY, {"object.setc_refused"}),
        (bd.SETI_ANSWERED, {"object.seti_read_only"}),
        (bd.NO_INF, {"object.status_inf"}),
        (bd.SLOW, {"object.response_time"}),
        (bd.OUT_OF_RANGE, {"object.values_in_range"}),
        (bd.SETC_REFUSES_SETTABLE, {"object.set_accepted"}),
    ],
)
def test_each_planted_fault_is_named(fault: str, expected: set[str]) -> None:
    report = _against_broken({fault})
    failing = {check_id for check_id, _ in report.failing()}
    assert failing == expected, text_report(report)
    subjects = {subject for _, subject in report.failing()}
    # Object faults sit in the meter; node-wide faults (TID, SNA) hit the profile too.
    if fault in (bd.WRONG_TID, bd.SILENT_SNA):
        assert subjects == {str(METER_EOJ), str(NODE_PROFILE)}
    else:
        assert subjects == {str(METER_EOJ)}
    assert not report.ok


def test_failure_reasons_say_what_was_wrong() -> None:
    report = _against_broken({bd.WRONG_TID, bd.NO_INF})
    reasons = {(r.check_id, r.subject): r.reason for r in report.results}
    assert "TID 0x00C3 answered to TID 0xA5C3" in reasons[("object.tid_seoj_echo", "0EF001")]
    # The harmless installation location is changed, never operation status first.
    assert "no INF of 0x81" in reasons[("object.status_inf", str(METER_EOJ))]


def test_class_rule_failures_name_the_epc_and_the_rule() -> None:
    report = _against_broken({bd.OUT_OF_RANGE, bd.SETC_REFUSES_SETTABLE, bd.MISSING_MANDATORY})
    reasons = {(r.check_id, r.subject): r.reason for r in report.results}
    meter = str(METER_EOJ)
    in_range = reasons[("object.values_in_range", meter)]
    assert "0xD7" in in_range, in_range
    assert "12 is out of range" in in_range, in_range
    assert "APPENDIX" in in_range
    refused = reasons[("object.set_accepted", meter)]
    assert "SetC of 0xE5" in refused, refused
    assert "SETC_SNA" in refused, refused
    maps = reasons[("object.property_maps", meter)]
    assert "0x9F lacks mandatory get 0xE0 (access rule: required)" in maps, maps


def test_without_allow_writes_only_values_just_read_are_written() -> None:
    node_box: list[bd.BrokenNode] = []

    async def body(client: EchonetClient) -> Report:
        assert client.link is not None
        node = bd.BrokenNode({bd.NO_INF})
        node_box.append(node)
        async with bd.serve_broken(
            node, local=(DEVICE_HOST, 0), announce_to=client.link.address
        ) as address:
            config = RunConfig(response_bound_s=5.0)
            return await run_conformance(client, address, config, clock=VirtualClock(0.0))

    report = run(_with_client(body))
    by_key = {(r.check_id, r.subject): r for r in report.results}
    status = by_key[("object.status_inf", str(METER_EOJ))]
    # The planted missing INF goes unseen: provoking it would change a setting.
    assert status.outcome is Outcome.SKIP
    assert "--allow-writes" in status.reason
    assert "0x81" in status.reason
    assert report.ok, text_report(report)
    writes = node_box[0].writes
    settable = [w for w in writes if "set" in node_box[0].meter.access(w[1])]
    assert settable, writes  # set_accepted did write, so the assertion below means something
    # Every write to a settable property carried the value the meter held.
    assert all(edt == held for _, _, edt, held in settable), settable


def test_junit_counts_match_the_report() -> None:
    report = _against_broken({bd.SETI_ANSWERED})
    root = ET.fromstring(junit_xml(report))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    failures = [c for c in cases if c.find("failure") is not None]
    skips = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.get("tests", "-1")) == len(cases) == len(report.results)
    assert int(suite.get("failures", "-1")) == len(failures) == report.count(Outcome.FAIL) == 1
    assert int(suite.get("skipped", "-1")) == len(skips) == report.count(Outcome.SKIP)
    failure = failures[0].find("failure")
    assert failure is not None
    assert failures[0].get("name") == f"object.seti_read_only[{METER_EOJ}]"
    assert "answered SET_RES" in failure.get("message", "")


def test_fuzz_bursts_are_bounded_and_the_device_stays_alive() -> None:
    config = RunConfig(response_bound_s=0.5, fuzz_frames=48, fuzz_burst=16, fuzz_seed=7)
    report = _against_simulated_meter(config)
    fuzz = next(r for r in report.results if r.check_id == "fuzz.alive")
    assert fuzz.outcome is Outcome.PASS, fuzz.reason
    assert "48 malformed frames in 3 bursts" in fuzz.reason
    assert report.ok, text_report(report)


def test_fuzz_names_a_device_that_hangs_on_malformed_frames() -> None:
    config = RunConfig(response_bound_s=RESPONSE_BOUND_S, fuzz_frames=8, fuzz_burst=4, fuzz_seed=2)
    report = _against_broken({bd.HANGS_ON_MALFORMED}, config)
    assert report.failing() == [("fuzz.alive", "node")], text_report(report)
    reason = report.results[-1].reason
    assert "after burst 1 of 2" in reason
    assert "seed 2" in reason


def test_unreachable_node_fails_once_and_skips_the_rest() -> None:
    async def body(client: EchonetClient) -> Report:
        # Nothing listens there: discard port 9 on a loopback address of our own.
        return await run_conformance(client, (DEVICE_HOST, 9), RunConfig(fuzz_frames=4))

    report = run(_with_client(body))
    assert report.failing() == [("node.reachable", str(NODE_PROFILE))]
    assert all(r.outcome is Outcome.SKIP for r in report.results[1:])
    assert len(report.results) > 1


def test_mutator_is_deterministic_and_never_sends_a_write() -> None:
    objects = [NODE_PROFILE, EOJ(0x02, 0x88, 0x01)]
    first = malformed_frames(objects, 500, seed=3)
    assert first == malformed_frames(objects, 500, seed=3)
    assert first != malformed_frames(objects, 500, seed=4)
    assert len(first) == 500
    writes = {int(ESV.SETI), int(ESV.SETC), int(ESV.SETGET)}
    for data in first:
        with pytest.raises(DecodeError):
            _frame.decode(data, strict=True)
        assert len(data) <= 10 or data[10] not in writes


def test_config_bounds() -> None:
    with pytest.raises(ValueError, match="fuzz_frames"):
        RunConfig(fuzz_frames=10**6)
    with pytest.raises(ValueError, match="response_bound_s"):
        RunConfig(response_bound_s=0)


# --------------------------------------------------------------------------- CLI
def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="smartmeter-proto")
    commands = parser.add_subparsers(dest="command", required=True)
    cli_conformance.register(commands)
    args = parser.parse_args(["conformance", *argv])
    return int(args.handler(args))


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def test_parse_target_forms_and_password_masking() -> None:
    parse = cli_conformance.parse_target
    assert parse("udp://192.0.2.5") == cli_conformance.UdpTarget("192.0.2.5", 3610)
    assert parse("udp://[fe80::1]:3611") == cli_conformance.UdpTarget("fe80::1", 3611)
    secret = "SECRETPW1234"
    target = parse(f"serial:///dev/ttyUSB0?model=j11&rbid=00AA&password={secret}", {})
    assert target == cli_conformance.SerialTarget("/dev/ttyUSB0", "j11", "00AA", secret)
    assert secret not in str(target)
    assert secret not in repr(target)
    from_env = parse(
        "serial:///dev/ttyUSB1",
        {"SMARTMETER_PROTO_RBID": "00BB", "SMARTMETER_PROTO_PASSWORD": secret},
    )
    assert isinstance(from_env, cli_conformance.SerialTarget)
    assert (from_env.model, from_env.rbid, from_env.password) == ("bp35c2", "00BB", secret)
    for bad in ("tcp://host", "udp://", "udp://host:99999", "serial:///dev/ttyUSB0?rbid=1"):
        with pytest.raises(ValueError, match="target") as info:
            parse(bad, {})
        assert secret not in str(info.value)


def test_cli_secret_never_printed_when_the_port_is_missing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "SECRETPW1234"
    code = _cli([f"serial:///nonexistent/tty?rbid=00AA&password={secret}", "--timeout", "0.2"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "error:" in err
    assert secret not in out + err


@contextmanager
def _meter_in_thread(client_port: int) -> Iterator[tuple[str, int]]:
    """A simulated meter served on its own thread and loop; yields its address.

    Its multicast goes to the client's port on loopback (``group``), and it answers the
    request's source port (``reply_port=None``).
    """
    ready = threading.Event()
    stop = threading.Event()
    bound: list[tuple[str, int]] = []

    async def serve() -> None:
        node = meter_node(SimulatedMeter(announce_fixed_time=False))
        async with serve_node(
            node, local=(DEVICE_HOST, 0), reply_port=None, group=(CLIENT_HOST, client_port)
        ) as server:
            bound.append(server.address)
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=lambda: asyncio.run(serve()))
    thread.start()
    try:
        assert ready.wait(5)
        yield bound[0]
    finally:
        stop.set()
        thread.join(5)


def test_cli_exit_code_and_junit_against_the_simulated_meter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client_port = _free_port(CLIENT_HOST)
    with _meter_in_thread(client_port) as (host, port):
        junit = tmp_path / "conformance.xml"
        argv = [f"udp://{host}:{port}", "--bind", f"{CLIENT_HOST}:{client_port}"]
        code = _cli(
            [*argv, "--timeout", "0.25", "--junit", str(junit), "--fuzz", "16", "--allow-writes"]
        )
        out, _ = capsys.readouterr()
        assert code == 0, out
        assert "0 failed" in out
        status = [line.split() for line in out.splitlines() if "object.status_inf" in line]
        assert ["PASS", "object.status_inf", str(METER_EOJ)] in [s[:3] for s in status], out
        suite = ET.parse(junit).getroot().find("testsuite")
        assert suite is not None
        assert suite.get("failures") == "0"
        assert int(suite.get("tests", "0")) == len(suite.findall("testcase")) > 10


def test_cli_unreachable_node_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = _cli([f"udp://{DEVICE_HOST}:9", "--bind", f"{CLIENT_HOST}:0", "--timeout", "0.2"])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "FAIL  node.reachable" in out


def test_cli_model_error_lists_every_model_it_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    code = _cli(["serial:///dev/ttyUSB0?model=nosuch&rbid=00AA&password=SECRETPW1234"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    for model in MODELS:  # j11 and rl7023 included
        assert model in err
    assert "SECRETPW1234" not in err


def test_cli_streams_results_and_on_interrupt_writes_junit_and_exits_130(tmp_path: Path) -> None:
    client_port = _free_port(CLIENT_HOST)
    junit = tmp_path / "partial.xml"
    with _meter_in_thread(client_port) as (host, port):
        command = (
            "import sys; from smartmeter_proto.cli import main; sys.exit(main())",
            "conformance",
            f"udp://{host}:{port}",
            "--bind",
            f"{CLIENT_HOST}:{client_port}",
            "--timeout",
            "0.5",
            "--fuzz",
            "10000",  # a long run: interrupted long before it ends
            "--junit",
            str(junit),
        )
        process = subprocess.Popen(
            [sys.executable, "-c", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Our ^C: the default SIGINT disposition, whatever this process inherited.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            assert process.stdout is not None
            lines: list[str] = []
            # Results arrive one by one, before the run ends: wait for the tenth.
            while len(lines) < 10:
                line = process.stdout.readline()
                assert line, "the run ended before printing ten results"
                lines.append(line)
            assert lines[0].startswith("ECHONET Lite conformance: udp://")
            assert lines[1].startswith("PASS  node.reachable")
            process.send_signal(signal.SIGINT)
            # Read the rest through the same buffered pipe object: lines already buffered by
            # readline() would be lost to communicate(), which reads the raw descriptor.
            process.wait(timeout=30)
            assert process.stderr is not None
            rest, err = process.stdout.read(), process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        assert process.returncode == 130, err
        assert "Traceback" not in err
        printed = [
            line
            for line in lines[1:] + rest.splitlines(True)
            if line[:4] in {"PASS", "FAIL", "SKIP"}
        ]
        assert "(interrupted)" in rest
        suite = ET.parse(junit).getroot().find("testsuite")
        assert suite is not None
        assert int(suite.get("tests", "0")) == len(suite.findall("testcase")) == len(printed)
