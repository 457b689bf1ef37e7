"""Fuzz the device side: ``skstack_device.parse_command`` and ``CommandParser.feed()``.

Input: byte 0 picks the dialect, the rest is host output. ``parse_command`` gets the
first line (value or DecodeError); ``CommandParser`` gets everything (never raises).
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    import re

    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun.skstack.device import CommandParser, parse_command
    from smartmeter_proto.wisun.skstack.dialects import dialect_names

    dialects = dialect_names()
    line_end = re.compile(rb"[\r\n]")

    def call(data: bytes) -> object:
        if not data:
            return None
        dialect = dialects[data[0] % len(dialects)]
        parser = CommandParser(dialect, max_line_length=256, max_payload=1024)
        events = parser.feed(data[1:])
        # Only the first line: SKSENDTO data may hold a line end of its own.
        first = line_end.split(data[1:], maxsplit=1)[0]
        try:
            return parse_command(first, dialect), events
        except DecodeError:
            return events

    return Target("skstack_command", call, (), "skstack", prefix=1)


if __name__ == "__main__":
    sys.exit(main("skstack_command"))
