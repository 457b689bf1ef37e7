"""Old module paths, importable for one release after a module moved into a subpackage.

``import smartmeter_proto.aroute.axdr`` (an old path) warns with a
:class:`DeprecationWarning` naming the new path, and gives a module holding the
same objects as the new one. :data:`MOVED` is the whole table; the finder is
installed by the package's ``__init__``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Final

__all__ = ["MOVED", "RENAMED", "install"]

_P = "smartmeter_proto."

#: old module path -> new module path(s) (without the ``smartmeter_proto.`` prefix); an old
#: module split in two gives the names of both.
MOVED: Final[dict[str, str | tuple[str, ...]]] = {
    "aroute.apdu_action": "aroute.apdu.action",
    "aroute.apdu_common": "aroute.apdu.common",
    "aroute.apdu_get": "aroute.apdu.get",
    "aroute.apdu_notify": "aroute.apdu.notify",
    "aroute.apdu_set": "aroute.apdu.set",
    "aroute.association_access": "aroute.association.access",
    "aroute.association_auth": "aroute.association.auth",
    "aroute.association_blocks": "aroute.association.blocks",
    "aroute.association_client": "aroute.association.client",
    "aroute.association_events": "aroute.association.events",
    "aroute.association_server": "aroute.association.server",
    "aroute.acse_ber": "aroute.acse.ber",
    "aroute.acse_initiate": "aroute.acse.initiate",
    "iot.backfill_ranges": "iot.backfill.ranges",
    "iot.backfill_records": "iot.backfill.records",
    "iot.backfill_store": "iot.backfill.store",
    "iot.valve_channel": "iot.valve.channel",
    "iot.valve_events": "iot.valve.events",
    "iot.valve_transitions": "iot.valve.transitions",
    "plc.g3adp_codes": "plc.g3adp.codes",
    "plc.g3adp_fields": "plc.g3adp.fields",
    "cli.decode_dlms": "cli.decode.dlms",
    "cli.decode_echonet": "cli.decode.echonet",
    "cli.decode_input": "cli.decode.input",
    "cli.decode_iot": "cli.decode.iot",
    "cli.decode_radio": "cli.decode.radio",
    "aroute.axdr_compact": "aroute.axdr.codec",
    "aroute.axdr_datetime": "aroute.axdr.dates",
    "aroute.axdr_values": "aroute.axdr.values",
    "aroute.cosem_profile": "aroute.cosem.management",
    "sim.dongle_j11": "sim.dongle.j11",
    "sim.dongle_pana": "sim.dongle.pana",
    "sim.dongle_pty": "transport.pty_server",
    "sim.dongle_skstack": "sim.dongle.skstack",
    "wisun.skstack_messages": "wisun.skstack.messages",
    "wisun.skstack_commands": "wisun.skstack.commands",
    "wisun.skstack_device": "wisun.skstack.device",
    "wisun.skstack_dialects": "wisun.skstack.dialects",
    "wisun.j11_messages": "wisun.j11.messages",
    "wisun.j11_layout": "wisun.j11.layout",
    "wisun.broute_auth": "wisun.broute.auth",
    "wisun.broute_driver": "wisun.broute.driver",
    "wisun.broute_events": "wisun.broute.events",
    "wisun.broute_j11": "wisun.broute.j11",
    "wisun.broute_skstack": "wisun.broute.skstack",
    "wisun.broute_transitions": "wisun.broute.transitions",
    "wisun.mac802154": "wisun.radio.mac802154",
    "wisun.lowpan": "wisun.radio.lowpan",
    "wisun.ipv6": "wisun.radio.ipv6",
    "wisun.pana": "wisun.radio.pana.message",
    "wisun.pana_endpoint": "wisun.radio.pana.endpoint",
    "wisun.pana_session": "wisun.radio.pana.session",
    "wisun.pana_trace": "wisun.radio.pana.trace",
    "wisun.pcap": "wisun.radio.pcap",
    "transport.iot_udp": ("transport.datagram", "transport.virtual_time"),
    "transport.udp_socket": "transport.datagram",
}

#: (old module path, old name) -> the name the object has now.
RENAMED: Final[dict[tuple[str, str], str]] = {
    ("transport.iot_udp", "UDPEndpointLink"): "DatagramLink",
}


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves an old module path of :data:`MOVED` to a copy of the new module's names."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_P) or fullname[len(_P) :] not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default: a fresh module named by the old path

    def exec_module(self, module: types.ModuleType) -> None:
        old = module.__name__[len(_P) :]
        moved = MOVED[old]
        news = [_P + name for name in ((moved,) if isinstance(moved, str) else moved)]
        warnings.warn(
            f"{module.__name__} moved to {' and '.join(news)}; the old path goes in the next"
            " release",
            DeprecationWarning,
            stacklevel=2,
        )
        for new in news:
            target = importlib.import_module(new)
            for name, value in vars(target).items():
                if not (name.startswith("__") and name.endswith("__")):
                    setattr(module, name, value)
        for (where, name), now in RENAMED.items():
            if where == old:
                setattr(module, name, getattr(module, now))
        module.__doc__ = f"Moved to {' and '.join(news)}."


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
