"""momonga (PyPI, an independent B-route client) against our dongle emulator on a pty.

For each SKSTACK model the emulator serves a pseudo-terminal from a background
asyncio thread; momonga opens it as a serial port, runs its whole session
(ROPT/WOPT, SKINFO model detection, SKRESET, SKSREG SA2, credentials, SKSCAN,
SKLL64, SKJOIN), reads the instantaneous power (0xE7) and the cumulative energy,
and closes (SKTERM). The emulator's clock runs ``--time-scale`` times faster so
the scans and momonga's own pauses stay short.

    .venv/bin/python interop/broute_momonga.py [--model bp35a1 --model bp35c2 ...]

Exit status 0 when every model completed a session and the power read matches
the simulated meter's value at that moment.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from smartmeter_proto.sim.dongle import DongleEmulator, make_dongle
from smartmeter_proto.sim.load_curve import LoadCurve
from smartmeter_proto.sim.meter import METER_EOJ, SimulatedMeter, meter_node
from smartmeter_proto.transport.pty_server import DonglePty, serve_dongle
from smartmeter_proto.transport.serial import open_broute

RBID = "00112233445566778899AABBCCDDEEFF"  # ROHM 63AN028E placeholders
PASSWORD = "0123456789AB"
SKSTACK_MODELS = ("bp35a1", "bp35c2", "rl7023", "rl7023-dss")


@contextmanager
def pty_in_thread(emulator: DongleEmulator, time_scale: float) -> Iterator[DonglePty]:
    """Serve ``emulator`` on a pty from a background event loop; yields the server."""
    ready: list[DonglePty] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with serve_dongle(emulator, time_scale=time_scale) as pty:
            ready.append(pty)
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not started.wait(5):
        raise RuntimeError("the pty did not come up")
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)


class SteadyCurve(LoadCurve):
    """The load curve without its per-second wobble: power holds for each half hour,
    so momonga and our client, reading a few seconds apart, must see the same watts."""

    def power_w(self, now: float) -> int:
        imported, exported = self.slot_power(self.slot_of(now))
        return round(imported - exported)


async def read_with_our_client(path: str, model: str) -> int:
    async with open_broute(path, RBID, PASSWORD, model=model) as ours:
        values = await ours.get_values(ours.address, METER_EOJ, [0xE7])
    power: int = values[0xE7]
    return power


def run_model(model: str, time_scale: float) -> tuple[bool, str]:
    from momonga import Momonga

    meter = SimulatedMeter(curve=SteadyCurve())
    start = time.time()
    emulator = make_dongle(
        model, rbid=RBID, password=PASSWORD, node=meter_node(meter, now=start), now=start
    )
    with pty_in_thread(emulator, time_scale) as pty:
        mo = Momonga(RBID, PASSWORD, pty.path, scan_retries=1, join_retries=1)
        mo.internal_xmit_interval = 0.1
        began = time.monotonic()
        with mo:
            before = pty.now()
            power = mo.get_instantaneous_power()
            after = pty.now()
            energy = mo.get_measured_cumulative_energy()
            detected = mo.session_manager.skw.device_type.name
        took = time.monotonic() - began
        # Then our own client on the same dongle (momonga ended its session with SKTERM).
        ours = asyncio.run(read_with_our_client(pty.path, model))
        ours_at = pty.now()
    # The meter's power moves every second: the answer must be one of the values it had
    # while the request was in flight (emulator time).
    possible = {meter.curve.power_w(t) for t in range(int(before), int(after) + 2)}
    same_half_hour = meter.curve.slot_of(before) == meter.curve.slot_of(ours_at)
    ok = power in possible and (ours == power or not same_half_hour)
    return ok, (
        f"{model}: momonga detected {detected}, instantaneous power {power} W, our client "
        f"{ours} W (meter: {sorted(possible)}), cumulative energy {energy} kWh, "
        f"momonga session {took:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=SKSTACK_MODELS)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    failures = 0
    for model in args.model or SKSTACK_MODELS:
        try:
            ok, report = run_model(model, args.time_scale)
        except Exception as exc:  # report every model, then fail
            ok, report = False, f"{model}: {type(exc).__name__}: {exc}"
        print(("PASS " if ok else "FAIL ") + report, flush=True)
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
