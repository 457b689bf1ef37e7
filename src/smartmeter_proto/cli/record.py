"""``smartmeter-proto record``: record a smart meter into SQLite, optionally publish to MQTT.

``record --device /dev/ttyUSB0 --rbid ID --password-file F --db hems.sqlite`` (Wi-SUN
dongle), ``--lan HOST`` (ECHONET Lite over UDP, IPv4 or IPv6) or ``--g3 PORT --id-p HEX
--psk HEX`` (G3-PLC modem); ``record --report hems.sqlite [--json]`` prints the
service-level report of a store. The B-route password and the PSK are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from ..hems.mqtt import MqttPublisher, MqttTarget
from ..hems.recorder import Connect, Recorder
from ..hems.report import build_report, format_report
from ..hems.store import RecordStore
from ..transport.smart_meter import open_smart_meter
from ..transport.udp import ANY_IPV4, ANY_IPV6, ECHONET_PORT
from ..wisun.dongle_models import DEFAULT_DONGLE_MODEL, dongle_model_names
from .arguments import endpoint, hex_of_size, interval
from .broute import MIN_POLL_INTERVAL_S
from .dongle import broute_id, broute_password
from .failure import EXIT_USAGE, fail
from .mqtt_options import add_mqtt_options, mqtt_publisher, mqtt_target

__all__ = ["register"]

_ENV_PASSWORD: Final = "SMARTMETER_PROTO_PASSWORD"  # noqa: S105 - a variable name
#: ARIB STD-T103 EAP-PSK: a 36-byte peer identity (ID_P) and a 128-bit PSK (RFC 4764 §2.1).
_ID_P_BYTES: Final = 36
_PSK_BYTES: Final = 16
#: Until the meter has told its route B identification number (0xC0), HA sees this name.
_UNKNOWN_METER: Final = "unknown"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "record",
        help="record a smart meter's readings into SQLite (and MQTT)",
        description="Record the meter's 1-minute and 30-minute values and instantaneous "
        "readings into --db, back-filling what an outage missed from the meter's own "
        "history; or print the report of a store with --report. The B-route password "
        f"comes from --password-file or ${_ENV_PASSWORD} and is never printed.",
    )
    link = parser.add_mutually_exclusive_group()
    link.add_argument("--device", metavar="PORT", help="Wi-SUN dongle serial port")
    link.add_argument(
        "--lan",
        metavar="HOST[:PORT]",
        type=endpoint(ECHONET_PORT),
        help="the meter's ECHONET Lite address over UDP (IPv4, IPv6 as [ADDR]:PORT)",
    )
    link.add_argument("--g3", metavar="PORT", help="G3-PLC modem serial port")
    link.add_argument(
        "--report", metavar="DB", type=Path, help="print the report of the store DB and exit"
    )
    parser.add_argument("--db", metavar="FILE", type=Path, help="the SQLite store to record into")
    parser.add_argument("--rbid", type=broute_id, help="B-route ID (32 characters, --device)")
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        type=Path,
        help="read the B-route password from the first line of FILE (--device)",
    )
    parser.add_argument(
        "--model",
        choices=dongle_model_names(),
        default=DEFAULT_DONGLE_MODEL,
        help=f"dongle model (default {DEFAULT_DONGLE_MODEL})",
    )
    parser.add_argument(
        "--id-p",
        type=hex_of_size(_ID_P_BYTES, "--id-p"),
        help=f"EAP-PSK peer identity, {_ID_P_BYTES} bytes in hex (--g3)",
    )
    parser.add_argument(
        "--psk",
        type=hex_of_size(_PSK_BYTES, "--psk"),
        help=f"EAP-PSK key, {_PSK_BYTES} bytes in hex (--g3)",
    )
    parser.add_argument(
        "--interval",
        type=interval(MIN_POLL_INTERVAL_S),
        default=60.0,
        help=f"seconds between instantaneous readings (default 60, minimum "
        f"{MIN_POLL_INTERVAL_S:g})",
    )
    parser.add_argument("--json", action="store_true", help="--report as JSON")
    add_mqtt_options(parser)
    parser.set_defaults(handler=_handler)


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        where = "--password-file"
        try:
            with args.password_file.open(encoding="utf-8") as file:
                text = file.readline(256).strip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable"
            fail(
                f"argument --password-file: cannot read {str(args.password_file)[:80]!r}: {reason}"
            )
    elif _ENV_PASSWORD in os.environ:
        where, text = f"${_ENV_PASSWORD}", os.environ[_ENV_PASSWORD]
    else:
        fail(f"--device needs a B-route password: --password-file FILE or ${_ENV_PASSWORD}")
    try:
        return broute_password(text)
    except argparse.ArgumentTypeError as exc:
        fail(f"{where}: {exc}")


def _connect(args: argparse.Namespace) -> tuple[Connect, str]:
    """The opener of the link the options name, and the transport's name for the store."""
    if args.device is not None:
        if args.rbid is None:
            fail("--device needs --rbid")
        password = _password(args)
        return functools.partial(
            open_smart_meter,
            device=args.device,
            rbid=args.rbid,
            password=password,
            model=args.model,
        ), "wisun"
    if args.g3 is not None:
        if args.id_p is None or args.psk is None:
            fail("--g3 needs --id-p and --psk")
        return functools.partial(open_smart_meter, g3=args.g3, id_p=args.id_p, psk=args.psk), "g3"
    host, port = args.lan
    # A meter on the standard port gets requests from port 3610 (ECHONET Lite §3.1.3 answers
    # go there); any other port is a test or a proxy: an ephemeral local port will do.
    local = (ANY_IPV6 if ":" in host else ANY_IPV4, ECHONET_PORT if port == ECHONET_PORT else 0)
    return functools.partial(open_smart_meter, lan=host, port=port, local=local), "lan"


def _report(path: Path, as_json: bool) -> int:
    if not path.is_file():
        fail(f"--report: no store at {str(path)[:80]!r}")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        connection.execute("SELECT count(*) FROM runs").fetchone()
        connection.close()
    except sqlite3.Error as exc:
        fail(f"--report: {str(path)[:80]!r} is not a recorder store ({exc})")
    store = RecordStore(path)
    try:
        report = build_report(store)
    finally:
        store.close()
    if as_json:
        print(json.dumps(report.to_json(), sort_keys=True))
    else:
        print(format_report(report))
    return 0


def _handler(args: argparse.Namespace) -> int:
    target = mqtt_target(args)  # checked before any work
    if args.report is not None:
        if target is not None or args.db is not None:
            fail("--report prints a store's report: not with --db or --mqtt")
        return _report(args.report, args.json)
    if args.json:
        fail("--json goes with --report")
    if args.device is None and args.lan is None and args.g3 is None:
        fail("give the meter: --device PORT, --lan HOST or --g3 PORT (or --report DB)")
    if args.db is None:
        fail("record needs --db FILE")
    connect, transport = _connect(args)
    try:
        store = RecordStore(args.db)
    except sqlite3.Error as exc:
        fail(f"--db: cannot open {str(args.db)[:80]!r} as a store ({exc})", EXIT_USAGE)
    try:
        return asyncio.run(_record(args, store, connect, transport, target))
    finally:
        store.close()


async def _record(
    args: argparse.Namespace,
    store: RecordStore,
    connect: Connect,
    transport: str,
    target: MqttTarget | None,
) -> int:
    tasks: list[asyncio.Task[Any]] = []
    publishers: list[MqttPublisher] = []

    def publish() -> None:
        """After each commit: start the publisher once the meter is known, else wake it."""
        if target is None:
            return
        if publishers:
            publishers[0].notify()
            return
        meta = store.meta()
        if "route_b_id" not in meta:
            return
        publisher = mqtt_publisher(
            target,
            args.db,
            meter_id=meta.get("route_b_id", _UNKNOWN_METER),
            manufacturer=meta.get("manufacturer_code", "unknown"),
            discovery_prefix=args.mqtt_discovery_prefix,
        )
        publishers.append(publisher)
        tasks.append(asyncio.get_running_loop().create_task(publisher.run()))

    recorder = Recorder(
        None,
        store,
        poll_interval=args.interval,
        transport=transport,
        connect=connect,
        clock=time.time,
        on_commit=publish,
    )
    print(f"recording to {args.db} ({transport}); ^C stops", flush=True)
    main = asyncio.get_running_loop().create_task(recorder.run())
    try:
        await main
    finally:
        main.cancel()
        for publisher in publishers:
            publisher.stop()  # run() returns once stopped
        await asyncio.gather(*tasks, return_exceptions=True)
    return 0
