"""Fuzz ``echonet.properties.decode_property(class_id, epc, edt)`` over every spec class.

Input: byte 0 picks the class (index into ``specs.known_classes()``), byte 1 is the EPC,
the rest is the EDT.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.echonet.properties import decode_property
    from smartmeter_proto.echonet.specs import known_classes
    from smartmeter_proto.errors import DecodeError

    classes = known_classes()

    def call(data: bytes) -> object:
        if len(data) < 2:
            return None
        return decode_property(classes[data[0] % len(classes)], data[1], data[2:])

    return Target("echonet_property", call, (DecodeError,), "bytes", prefix=2)


if __name__ == "__main__":
    sys.exit(main("echonet_property"))
