"""Load the ECHONET Lite class specifications in ``specs/echonet/*.yaml``.

The schema is documented in ``specs/echonet/README.md``. Files are read once,
on first use of a class; a class that ``inherits: super`` gets the device
object super class's properties (APPENDIX chapter 2) under its own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml

from .datatypes import DataType, compile_type

__all__ = [
    "SUPER_CLASS",
    "ClassSpec",
    "PropertySpec",
    "known_classes",
    "load_class",
    "specs_dir",
]

#: Pseudo class id of the device object super class file (``0000_super.yaml``).
SUPER_CLASS: Final = 0x0000
_ACCESS: Final = frozenset({"get", "set", "anno"})

_yaml_loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class PropertySpec:
    """One EPC of a class: its name, EDT type, unit and access rules."""

    epc: int
    name: str
    title: str
    data_type: DataType
    unit: str | None
    access: frozenset[str]
    mandatory: frozenset[str]
    since: str | None = None

    @property
    def gettable(self) -> bool:
        return "get" in self.access

    @property
    def settable(self) -> bool:
        return "set" in self.access

    @property
    def announced(self) -> bool:
        """Announced at status change (belongs in the 0x9D map)."""
        return "anno" in self.access


@dataclass(frozen=True, slots=True)
class ClassSpec:
    """A class (group code << 8 | class code) and its properties by EPC."""

    class_id: int
    name: str
    title: str
    source: str
    properties: Mapping[int, PropertySpec]

    def by_name(self, name: str) -> PropertySpec:
        for prop in self.properties.values():
            if prop.name == name:
                return prop
        raise KeyError(f"class 0x{self.class_id:04X} has no property named {name!r}")

    def epc(self, name: str) -> int:
        return self.by_name(name).epc

    def mandatory_epcs(self, operation: str) -> tuple[int, ...]:
        return tuple(sorted(e for e, p in self.properties.items() if operation in p.mandatory))


def specs_dir() -> Path:
    """Where the class files are: shipped inside the wheel, or the source tree's ``specs/``."""
    shipped = resources.files("smartmeter_proto") / "specs" / "echonet"
    if shipped.is_dir():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[3] / "specs" / "echonet"


@functools.cache
def _files() -> Mapping[int, Path]:
    found: dict[int, Path] = {}
    for path in sorted(specs_dir().glob("*.yaml")):
        head = path.name.split("_", 1)[0]
        found[int(head, 16)] = path
    return found


def known_classes() -> tuple[int, ...]:
    """Class ids with a specification file (the super class excluded)."""
    return tuple(c for c in _files() if c != SUPER_CLASS)


def _property(epc: int, entry: Mapping[str, Any], where: str) -> PropertySpec:
    access = frozenset(entry.get("access", ()))
    mandatory = frozenset(entry.get("mandatory", ()))
    if not access <= _ACCESS or not mandatory <= _ACCESS:
        raise ValueError(f"{where}: access/mandatory must be drawn from {sorted(_ACCESS)}")
    try:
        data_type = compile_type(entry["type"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad type: {exc}") from exc
    return PropertySpec(
        epc=epc,
        name=str(entry["name"]),
        title=str(entry.get("title", entry["name"])),
        data_type=data_type,
        unit=entry.get("unit"),
        access=access,
        mandatory=mandatory,
        since=str(entry["since"]) if "since" in entry else None,
    )


def load_class(class_id: int) -> ClassSpec | None:
    """The :class:`ClassSpec` of ``class_id`` (e.g. 0x0288), or ``None`` without a file."""
    path = _files().get(class_id)
    if path is None:
        return None  # not cached: class ids come off the wire, only files are kept
    return _load_file(path)


@functools.cache  # one entry per file of specs/echonet: bounded by the shipped files
def _load_file(path: Path) -> ClassSpec:
    with path.open("rb") as handle:
        doc = yaml.load(handle, Loader=_yaml_loader)  # noqa: S506 - a SafeLoader subclass
    props: dict[int, PropertySpec] = {}
    if doc.get("inherits") == "super":
        parent = load_class(SUPER_CLASS)
        if parent is None:
            raise ValueError(
                f"{path.name}: inherits the super class, but 0000_super.yaml is missing"
            )
        props.update(parent.properties)
    for epc, entry in (doc.get("properties") or {}).items():
        props[int(epc)] = _property(int(epc), entry, f"{path.name} EPC 0x{int(epc):02X}")
    return ClassSpec(
        class_id=int(doc["class"]),
        name=str(doc["name"]),
        title=str(doc.get("title", doc["name"])),
        source=str(doc.get("source", "")),
        properties=dict(sorted(props.items())),
    )
