"""ECHONET Lite multicast on a real LAN: network namespaces joined by a bridge, no loopback.

Four namespaces are created (root needed): a hub with a bridge, and three hosts on
10.231.0.0/24 — the HEMS (our ``EchonetClient``, 10.231.0.1), our simulated meter
(``smartmeter-proto simulate meter``, 10.231.0.2) and the npm ``echonet-lite`` package
as a device (``echonet_lan_node.js``, 10.231.0.3). The HEMS starts first; then both
devices start and announce themselves by multicast. It must:

1. receive both instance-list INFs (0xD5) through the group and learn both nodes;
2. discover both with a multicast Get of 0xD6;
3. pass the conformance run against our meter, ``object.status_inf`` included.

Namespaces and processes are removed on every exit path. Exit 0 when all holds, 1 when
something does not, 77 when it cannot run here (not root, no ``ip``, no node, EL missing).

    sudo .venv/bin/python interop/echonet_lan.py
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent
NPM_DIR: Final = Path(os.environ.get("ECHONET_NPM_DIR", HERE / ".work" / "npm"))
EXIT_SKIP: Final = 77
#: Addresses inside the namespaces only; the /24 never touches the host's own interfaces.
SUBNET: Final = "10.231.0"
HEMS, METER, EL_NODE = f"{SUBNET}.1", f"{SUBNET}.2", f"{SUBNET}.3"
#: Bounds that only stop a hang; no outcome depends on them.
HANG_GUARD_S: Final = 60.0


def why_not() -> str | None:
    """Why this cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NPM_DIR / "node_modules" / "echonet-lite" / "package.json").exists():
        return f"echonet-lite is not installed under {NPM_DIR} (run interop/run_echonet.sh)"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Lan:
    """The namespaces, the bridge and the veth pairs; ``close()`` removes them all."""

    def __init__(self, tag: str) -> None:
        self.hub = f"smp-hub-{tag}"
        self.hosts = {name: f"smp-{name}-{tag}" for name in ("hems", "meter", "el")}
        self.created: list[str] = []

    def open(self) -> None:
        for ns in (self.hub, *self.hosts.values()):
            _ip("netns", "add", ns)
            self.created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        addresses = {"hems": HEMS, "meter": METER, "el": EL_NODE}
        for index, (name, ns) in enumerate(self.hosts.items()):
            port = f"p{index}"
            _ip(
                "-n",
                self.hub,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            _ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{addresses[name]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            # The LAN is the default route: EL joins and multicasts by it.
            _ip("-n", ns, "route", "add", "default", "dev", "eth0")

    def exec(self, name: str) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[name]]

    def close(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.created.clear()


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        if process.stdin is not None:
            process.stdin.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_line(process: subprocess.Popen[str], wanted: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if wanted in line:
            return line
    raise RuntimeError(f"process ended before printing {wanted!r}")


# ------------------------------------------------------------------ the HEMS side
async def hems() -> dict[str, Any]:
    """Run inside the HEMS namespace: listen, learn, discover, run the conformance checks."""
    from smartmeter_proto.conformance import Outcome, RunConfig, run_conformance
    from smartmeter_proto.sim.clock import VirtualClock
    from smartmeter_proto.transport.udp import ECHONET_PORT, EchonetClient

    async with EchonetClient.udp(local=(HEMS, ECHONET_PORT), timeout=1.0, retries=1) as client:
        assert client.link is not None
        print(json.dumps({"ready": True, "joined": list(client.link.joined)}), flush=True)
        infs: dict[str, list[str]] = {}

        async def until_both() -> None:
            while not {METER, EL_NODE} <= set(infs):
                note = await client.driver.notifications.get()
                host = str(note.source[0])
                infs.setdefault(host, []).extend(f"0x{p.epc:02X}" for p in note.frame.properties)

        await asyncio.wait_for(until_both(), HANG_GUARD_S)
        learnt = {str(n.address[0]): [str(e) for e in n.instances] for n in client.known_nodes}
        discovered = {
            str(n.address[0]): [str(e) for e in n.instances] for n in await client.discover()
        }
        report = await run_conformance(
            client,
            (METER, ECHONET_PORT),
            RunConfig(response_bound_s=2.0, allow_writes=True),
            clock=VirtualClock(0.0),
        )
        status = [r.outcome.value for r in report.results if r.check_id == "object.status_inf"]
        return {
            "infs": infs,
            "learnt": learnt,
            "discovered": discovered,
            "conformance_ok": report.ok,
            "status_inf": status,
            "failing": report.failing(),
            "passed": report.count(Outcome.PASS),
            "dropped": client.driver.session.dropped,
            "own_echoes": client.link.own_echoes,
        }


def verdict(result: dict[str, Any]) -> list[str]:
    """What did not hold (empty when everything did)."""
    problems = []
    for host in (METER, EL_NODE):
        if "0xD5" not in result["infs"].get(host, []):
            problems.append(f"no INF 0xD5 from {host}")
    if result["learnt"].get(METER) != ["028801"] or result["learnt"].get(EL_NODE) != ["013001"]:
        problems.append(f"nodes learnt from INFs: {result['learnt']}")
    if result["discovered"].get(METER) != ["028801"] or result["discovered"].get(EL_NODE) != [
        "013001"
    ]:
        problems.append(f"multicast discovery found {result['discovered']}")
    if not result["conformance_ok"] or "PASS" not in result["status_inf"]:
        problems.append(
            f"conformance failing {result['failing']}, status_inf {result['status_inf']}"
        )
    return problems


def main() -> int:
    if sys.argv[1:] == ["--hems"]:
        print(json.dumps(asyncio.run(hems())), flush=True)
        return 0
    reason = why_not()
    if reason is not None:
        print(f"skipped: {reason}")
        return EXIT_SKIP
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ECHONET_NPM_DIR": str(NPM_DIR)}
    lan = Lan(f"{os.getpid()}")
    started = time.monotonic()
    with ExitStack() as stack:
        stack.callback(lan.close)
        lan.open()

        def spawn(argv: list[str]) -> subprocess.Popen[str]:
            process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
            )
            stack.callback(_stop, process)
            return process

        hems_process = spawn([*lan.exec("hems"), sys.executable, __file__, "--hems"])
        ready = json.loads(_wait_line(hems_process, '"ready"'))
        cli = [
            sys.executable,
            "-c",
            "import sys; from smartmeter_proto.cli import main; sys.exit(main())",
        ]
        meter = spawn(
            [
                *lan.exec("meter"),
                *cli,
                "simulate",
                "meter",
                "--bind",
                METER,
                "--duration",
                str(HANG_GUARD_S),
            ]
        )
        _wait_line(meter, "listening")
        el = spawn([*lan.exec("el"), "node", str(HERE / "echonet_lan_node.js"), EL_NODE])
        _wait_line(el, "ready")
        assert hems_process.stdout is not None
        try:
            out, _ = hems_process.communicate(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            print("the HEMS side did not finish")
            return 1
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if hems_process.returncode != 0 or not lines:
            print(f"the HEMS side failed (exit {hems_process.returncode})")
            return 1
        result = json.loads(lines[-1])
        result["hems_joined"] = ready["joined"]
        result["namespaces"] = [lan.hub, *lan.hosts.values()]
        print(json.dumps(result, indent=2))
    problems = verdict(result)
    for problem in problems:
        print(f"FAILED: {problem}")
    print(f"{'ok' if not problems else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
