"""Fuzz ``wisun.j11.decode``: exactly one J11 frame -> J11Frame or DecodeError."""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun.j11 import decode

    return Target("j11_frame", decode, (DecodeError,), "j11")


if __name__ == "__main__":
    sys.exit(main("j11_frame"))
