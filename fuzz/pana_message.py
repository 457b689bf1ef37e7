"""Fuzz ``wisun.pana.decode``: any bytes -> PanaMessage or DecodeError.

Input: one PANA message (the UDP payload). Run ``python fuzz/pana_message.py``
(atheris) or ``--fallback``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from _harness import REPO, Target, main


def build() -> Target:
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.wisun.radio.pana import message as pana

    def call(data: bytes) -> object:
        return pana.decode(data)

    return Target("pana_message", call, (DecodeError,), "bytes")


def load_test_module(relative: str) -> ModuleType:
    """A test module of the repository, imported by path (its real captures are seeds)."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(f"_seeds_{Path(relative).stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{relative} not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def real_messages() -> dict[str, bytes]:
    """The real PANA captures of tests/wisun/test_pana.py and test_skstack.py (C2_PANA).

    Sources are named there: [WSUHA], [VKG], [RSNOM], [GORL].
    """
    test_pana = load_test_module("tests/wisun/test_pana.py")
    test_skstack = load_test_module("tests/wisun/test_skstack.py")
    names = ["wsuha-par-s", "wsuha-par-psk1", "wsuha-par-psk3", "wsuha-par-c"]
    names += ["vkg-par-c", "rsnom-par-s", "rsnom-par-c", "gorl-par-psk3"]
    out = dict(zip(names, test_pana.ALL_REAL, strict=True))
    for index, line in enumerate(test_skstack.C2_PANA):
        data = bytes.fromhex(line.split(" ", 1)[1])
        if data not in out.values():
            out[f"c2-pana-{index}"] = data
    return out


def seeds() -> dict[str, bytes]:
    """Real captures, then truncated and mutated copies of them."""
    from smartmeter_proto.wisun.radio.pana import message as pana

    real = real_messages()
    out = dict(real)
    par_c = real["wsuha-par-c"]
    psk1 = real["wsuha-par-psk1"]
    # Re-encoding a decoded message keeps it valid: a PNA-like answer without AVPs.
    plain = pana.decode(real["wsuha-par-s"])
    out["answer-no-avps"] = pana.encode(
        pana.PanaMessage(
            plain.flags & ~pana.Flag.REQUEST, plain.message_type, plain.session_id, 1, ()
        )
    )
    out["edge-empty"] = b""
    out["edge-header-only"] = par_c[:16]
    out["edge-truncated-avp"] = par_c[:30]
    out["edge-length-lie"] = par_c[:2] + (len(par_c) + 8).to_bytes(2, "big") + par_c[4:]
    out["edge-avp-length-lie"] = psk1[:20] + b"\xff\xff" + psk1[22:]
    out["edge-trailing"] = par_c + b"\x00\x00\x00\x00"
    out["edge-reserved-nonzero"] = b"\x12\x34" + par_c[2:]
    return out


if __name__ == "__main__":
    sys.exit(main("pana_message"))
