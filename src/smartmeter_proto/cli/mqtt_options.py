"""The ``--mqtt`` options of ``record``: publish the recorded readings to an MQTT broker.

Readings are published from the store (its outbox, :mod:`smartmeter_proto.hems.outbox`)
with Home Assistant discovery, QoS 1, at least once and in store order; a broker that is
down loses nothing. The broker password comes from the URL or ``--mqtt-password-file`` and
is never printed: errors and logs name the broker as ``mqtt://USER@HOST:PORT``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
from pathlib import Path

from ..hems.ha_discovery import DEFAULT_DISCOVERY_PREFIX, DeviceInfo
from ..hems.mqtt import MqttPublisher, MqttTarget, parse_mqtt_url
from ..hems.outbox import PublicationCursor, StoreFeed
from .failure import fail, require_extra

__all__ = ["add_mqtt_options", "mqtt_publisher", "mqtt_target", "mqtt_url"]


def mqtt_url(text: str) -> MqttTarget:
    """``argparse`` type for ``--mqtt``: a checked broker URL; never echoes a password."""
    try:
        return parse_mqtt_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_mqtt_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--mqtt``, ``--mqtt-password-file`` and ``--mqtt-discovery-prefix``."""
    group = parser.add_argument_group("MQTT / Home Assistant (needs the 'mqtt' extra)")
    group.add_argument(
        "--mqtt",
        metavar="URL",
        type=mqtt_url,
        help="publish each stored reading with Home Assistant discovery to "
        "mqtt://[USER[:PASSWORD]@]HOST[:PORT] (or mqtts:// for TLS); QoS 1, at least once, "
        "in order; what is stored while the broker is down is published when it is back",
    )
    group.add_argument(
        "--mqtt-password-file",
        metavar="FILE",
        type=Path,
        help="read the broker password from the first line of FILE (not from the URL)",
    )
    group.add_argument(
        "--mqtt-discovery-prefix",
        metavar="PREFIX",
        default=DEFAULT_DISCOVERY_PREFIX,
        help="Home Assistant's discovery prefix (default: %(default)s)",
    )


def mqtt_target(args: argparse.Namespace) -> MqttTarget | None:
    """The broker of ``--mqtt`` with its password, or None; checked before work starts."""
    target: MqttTarget | None = args.mqtt
    if target is None:
        if args.mqtt_password_file is not None:
            fail("--mqtt-password-file needs --mqtt")
        return None
    require_extra("mqtt")
    if args.mqtt_password_file is None:
        return target
    try:
        lines = args.mqtt_password_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        fail(f"cannot read --mqtt-password-file {str(args.mqtt_password_file)[:80]!r}: {reason}")
    password = lines[0] if lines else ""
    if not password:
        fail("--mqtt-password-file is empty")
    if target.password is not None:
        fail("the MQTT password is given twice (in the URL and in --mqtt-password-file)")
    if target.username is None:
        fail("an MQTT password needs a user name: --mqtt mqtt://USER@HOST")
    return dataclasses.replace(target, password=password)


def mqtt_publisher(
    target: MqttTarget,
    db: str | Path,
    *,
    meter_id: str,
    manufacturer: str = "unknown",
    discovery_prefix: str = DEFAULT_DISCOVERY_PREFIX,
    poll_interval: float = 1.0,
) -> MqttPublisher:
    """A publisher of ``db``'s outbox to ``target``; run it beside the recorder.

    ``meter_id`` names the Home Assistant device (the meter's route B identification number,
    0xC0, as the store's ``meta`` keeps it); its own SQLite connection reads what the
    recorder committed.
    """
    connection = sqlite3.connect(str(db))
    try:
        device = DeviceInfo(meter_id, manufacturer=manufacturer, discovery_prefix=discovery_prefix)
    except ValueError as exc:
        connection.close()
        fail(f"--mqtt-discovery-prefix: {exc}")
    return MqttPublisher(
        target,
        device,
        StoreFeed(connection),
        PublicationCursor(connection, target.display),
        poll_interval=poll_interval,
    )
