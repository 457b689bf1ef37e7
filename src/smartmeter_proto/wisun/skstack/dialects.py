"""SKSTACK IP dialects: what each dongle family prints and accepts (specs/skstack/*.yaml).

Every difference between BP35A1, BP35C0/C2 and the RL7023 sticks that the
codec in :mod:`smartmeter_proto.wisun.skstack` needs is a field of
:class:`Dialect`; the facts and their sources live in the YAML files.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

__all__ = [
    "SPEC_DIR",
    "Dialect",
    "EventSpec",
    "PayloadMode",
    "dialect_names",
    "get_dialect",
    "load_dialects",
]

#: The package's directory (this module is smartmeter_proto/wisun/skstack/dialects.py).
_PACKAGE: Final = Path(__file__).resolve().parents[2]
#: specs/skstack: inside the installed package (wheel force-include) or at the repository root.
SPEC_DIR: Final = next(
    (
        p
        for p in (_PACKAGE / "specs" / "skstack", _PACKAGE.parents[1] / "specs" / "skstack")
        if p.is_dir()
    ),
    _PACKAGE.parents[1] / "specs" / "skstack",
)

_EINFO_TOKENS: Final = frozenset({"ipaddr", "addr64", "channel", "panid", "addr16", "side"})
_ERXUDP_TOKENS: Final = frozenset(
    {"sender", "dest", "rport", "lport", "senderlla", "rssi", "secured", "side"}
)
_KEYS: Final = frozenset(
    {
        "description",
        "extends",
        "aliases",
        "einfo",
        "erxudp",
        "rssi_register",
        "event_side",
        "epandesc",
        "epandesc_optional",
        "skscan_side",
        "sksendto_side",
        "echo_default",
        "payload_mode_default",
        "option_commands",
        "option_reply_terminator",
        "registers",
        "events",
    }
)


class PayloadMode(IntEnum):
    """How ERXUDP prints its data: the WOPT/ROPT option value."""

    BINARY = 0
    HEX = 1


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One EVENT number of a dialect: name, PARAM token count, whether a sender is printed."""

    code: int
    name: str
    params: int
    has_sender: bool
    meaning: str


@dataclass(frozen=True, slots=True, eq=False)
class Dialect:
    """The wire differences of one dongle family (see specs/skstack/README.md)."""

    name: str
    family: str
    description: str
    einfo_fields: tuple[str, ...]
    erxudp_fields: tuple[str, ...]
    rssi_register: str | None
    event_side: bool
    epandesc_keys: tuple[str, ...]
    epandesc_optional: frozenset[str]
    skscan_side: bool
    sksendto_side: bool
    echo_default: bool
    payload_mode_default: PayloadMode
    option_commands: bool
    option_reply_terminator: bytes
    registers: frozenset[str]
    events: Mapping[int, EventSpec]

    def erxudp_tokens(self, rssi: bool) -> tuple[str, ...]:
        """ERXUDP header tokens before DATALEN, with the RSSI token only when ``rssi`` is on."""
        if rssi and self.rssi_register is not None:
            return self.erxudp_fields
        return tuple(f for f in self.erxudp_fields if f != "rssi")

    def __repr__(self) -> str:
        return f"Dialect({self.name!r})"


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"specs/skstack {where}: {message}")


def _str_list(raw: Any, where: str, allowed: frozenset[str] | None = None) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise _fail(where, "expected a list of strings")
    if allowed is not None and not set(raw) <= allowed:
        raise _fail(where, f"unknown tokens {sorted(set(raw) - allowed)}")
    return tuple(raw)


def _flag(raw: Any, where: str) -> bool:
    if not isinstance(raw, bool):
        raise _fail(where, "expected true or false")
    return raw


def _events(raw: Any, where: str) -> Mapping[int, EventSpec]:
    if not isinstance(raw, dict):
        raise _fail(where, "expected a mapping of hex event numbers")
    out: dict[int, EventSpec] = {}
    for key, spec in raw.items():
        if not isinstance(key, str) or len(key) != 2:
            raise _fail(where, f"event key {key!r} is not 2 hex digits")
        try:
            code = int(key, 16)
        except ValueError:
            raise _fail(where, f"event key {key!r} is not hex") from None
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise _fail(where, f"event {key} needs a name")
        params = spec.get("params", 0)
        if not isinstance(params, int) or params < 0:
            raise _fail(where, f"event {key}: params must be a count")
        out[code] = EventSpec(
            code=code,
            name=spec["name"],
            params=params,
            has_sender=_flag(spec.get("sender", True), f"{where} event {key} sender"),
            meaning=str(spec.get("meaning", "")),
        )
    return MappingProxyType(out)


def _build(name: str, family: str, raw: dict[str, Any]) -> Dialect:
    where = f"dialect {name}"
    unknown = set(raw) - _KEYS
    if unknown:
        raise _fail(where, f"unknown keys {sorted(unknown)}")
    missing = _KEYS - {"extends", "aliases"} - set(raw)
    if missing:
        raise _fail(where, f"missing keys {sorted(missing)}")
    einfo = _str_list(raw["einfo"], f"{where} einfo", _EINFO_TOKENS)
    if einfo[:4] != ("ipaddr", "addr64", "channel", "panid") or len(einfo) != 5:
        raise _fail(where, "einfo must be ipaddr addr64 channel panid (addr16|side)")
    erxudp = _str_list(raw["erxudp"], f"{where} erxudp", _ERXUDP_TOKENS)
    if erxudp[:5] != ("sender", "dest", "rport", "lport", "senderlla"):
        raise _fail(where, "erxudp must start with sender dest rport lport senderlla")
    rssi_register = raw["rssi_register"]
    if rssi_register is not None and not isinstance(rssi_register, str):
        raise _fail(where, "rssi_register must be a register name or null")
    if ("rssi" in erxudp) != (rssi_register is not None):
        raise _fail(where, "the rssi token and rssi_register go together")
    keys = _str_list(raw["epandesc"], f"{where} epandesc")
    optional = frozenset(_str_list(raw["epandesc_optional"], f"{where} epandesc_optional"))
    if not optional <= set(keys):
        raise _fail(where, "epandesc_optional must be a subset of epandesc")
    mode = raw["payload_mode_default"]
    if mode not in ("binary", "hex"):
        raise _fail(where, "payload_mode_default must be binary or hex")
    terminator = raw["option_reply_terminator"]
    if terminator not in ("\r", "\r\n"):
        raise _fail(where, "option_reply_terminator must be CR or CRLF")
    return Dialect(
        name=name,
        family=family,
        description=str(raw["description"]),
        einfo_fields=einfo,
        erxudp_fields=erxudp,
        rssi_register=rssi_register,
        event_side=_flag(raw["event_side"], f"{where} event_side"),
        epandesc_keys=keys,
        epandesc_optional=optional,
        skscan_side=_flag(raw["skscan_side"], f"{where} skscan_side"),
        sksendto_side=_flag(raw["sksendto_side"], f"{where} sksendto_side"),
        echo_default=_flag(raw["echo_default"], f"{where} echo_default"),
        payload_mode_default=PayloadMode.HEX if mode == "hex" else PayloadMode.BINARY,
        option_commands=_flag(raw["option_commands"], f"{where} option_commands"),
        option_reply_terminator=terminator.encode("ascii"),
        registers=frozenset(_str_list(raw["registers"], f"{where} registers")),
        events=_events(raw["events"], f"{where} events"),
    )


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    out.pop("aliases", None)
    return out


def load_dialects(spec_dir: Path | None = None) -> dict[str, Dialect]:
    """Every dialect (and alias) of every ``*.yaml`` in ``spec_dir``, ``extends`` resolved."""
    folder = SPEC_DIR if spec_dir is None else spec_dir
    raw_dialects: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("dialects"), dict):
            raise _fail(path.name, "expected 'family' and a 'dialects' mapping")
        family = str(doc.get("family", path.stem))
        for name, body in doc["dialects"].items():
            if not isinstance(body, dict) or name in raw_dialects:
                raise _fail(path.name, f"dialect {name!r} is not a mapping or is defined twice")
            raw_dialects[name] = (family, body)

    resolved: dict[str, dict[str, Any]] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in chain:
            raise _fail(f"dialect {name}", f"extends loop {' -> '.join((*chain, name))}")
        if name not in raw_dialects:
            raise _fail(f"dialect {chain[-1] if chain else name}", f"extends unknown {name!r}")
        if name not in resolved:
            body = raw_dialects[name][1]
            parent = body.get("extends")
            if parent is None:
                resolved[name] = dict(body)
            else:
                child = {k: v for k, v in body.items() if k != "extends"}
                resolved[name] = _merge(resolve(str(parent), (*chain, name)), child)
        return resolved[name]

    out: dict[str, Dialect] = {}
    for name, (family, body) in raw_dialects.items():
        dialect = _build(name, family, resolve(name, ()))
        out[name] = dialect
        for alias in _str_list(body.get("aliases", []), f"dialect {name} aliases"):
            if alias in out or alias in raw_dialects:
                raise _fail(f"dialect {name}", f"alias {alias!r} clashes")
            out[alias] = dialect
    return out


@functools.cache
def _registry() -> dict[str, Dialect]:
    return load_dialects()


def get_dialect(name: str | Dialect) -> Dialect:
    """The dialect called ``name`` (case-insensitive); a :class:`Dialect` passes through."""
    if isinstance(name, Dialect):
        return name
    registry = _registry()
    try:
        return registry[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown SKSTACK dialect {name!r}; known: {', '.join(sorted(registry))}"
        ) from None


def dialect_names() -> tuple[str, ...]:
    """Names of the loaded dialects, aliases included, sorted."""
    return tuple(sorted(_registry()))
