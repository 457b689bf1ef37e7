"""Turn the ECHONET Consortium's Machine Readable Appendix (MRA) into ``specs/echonet/mra/``.

Run by hand when a new MRA is published; the output is committed::

    python specs/echonet/mra_import.py /path/to/MRA_v1.3.1

Writes one JSON file per class (``mra/<CCCC>.json``, read lazily by
``smartmeter_proto.echonet.specs``) in the ``type:`` vocabulary of
``specs/echonet/README.md``. Every file carries the MRA's copyright line.
MRA layout: ``devices/0xCCCC.json``, ``superClass/0x0000.json``,
``nodeProfile/0x0EF0.json``, ``definitions/definitions.json`` and
``MCRules/0xCCCC_mcrule.json`` (MRA format 1.2.0).

MCRules are kept per property as ``mc_rule`` and never turned into types: they are the
rules that convert the MRA into ECHONET Lite Web API Device Descriptions (MRA release
note V1.0.0, 2021-12-01: "The files in the folder MCRules are used to generate Device
Descriptions for the ECHONET Lite Web API"), not wire definitions. Their ``DEL`` drops
from the Web API what it folds into other values (0x0288 0xD7 digits, 0xE1 unit,
0xE5 day of history are mandatory on the wire), and their ``data`` is the Web API shape
(0x0263 0xED level 1..8 for wire codes 0x31..0x38, 0x0130 0x92 minutes for hh:mm,
0x0000 0x98 date-time merging 0x97 and 0x98, EPC 0xFF group lists that no device sends).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "mra"
#: What a class file's ``mc_rules`` header says of its MCRules (see the module docstring).
MC_RULES_NOTE = (
    "ECHONET Lite Web API Device Description conversion rules (MRA release note V1.0.0); "
    "kept per property as mc_rule, not applied to EDTs"
)
#: Scales the MRA writes as ``multiple``/``multipleOf`` that are decimal fractions.
_DECIMALS = {0.1: 1, 0.01: 2, 0.001: 3, 0.0001: 4}
_FORMATS = {
    "int8": (1, True),
    "int16": (2, True),
    "int32": (4, True),
    "uint8": (1, False),
    "uint16": (2, False),
    "uint32": (4, False),
}
_RELEASES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def snake(name: str) -> str:
    """``targetTemperature`` -> ``target_temperature`` (names of the library's API)."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return name.strip("_").lower()


def _code(text: str) -> int:
    return int(text, 16)


class Converter:
    """MRA ``data`` objects to ``type:`` mappings (``$ref`` resolved into definitions)."""

    def __init__(self, definitions: dict[str, Any]) -> None:
        self.definitions = definitions

    def resolve(self, data: dict[str, Any]) -> dict[str, Any]:
        if "$ref" not in data:
            return data
        found = dict(self.definitions[data["$ref"].rsplit("/", 1)[1]])
        found.update({k: v for k, v in data.items() if k != "$ref"})  # coefficient, overflowCode...
        return self.resolve(found)

    def convert(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """(type mapping, unit) of an MRA data object."""
        data = self.resolve(data)
        if "oneOf" in data:
            return self._one_of([self.resolve(a) for a in data["oneOf"]])
        kind = data["type"]
        handler = getattr(self, "_" + kind.replace("-", "_"))
        return handler(data)  # type: ignore[no-any-return]

    def _number(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        size, signed = _FORMATS[data["format"]]
        out: dict[str, Any] = {"kind": "signed" if signed else "unsigned", "size": size}
        for key, name in (("minimum", "min"), ("maximum", "max")):
            if key in data:
                out[name] = data[key]
        scale = data.get("multiple", data.get("multipleOf", 1))
        if scale in _DECIMALS:
            out["decimals"] = _DECIMALS[scale]
        elif scale != 1:
            out["factor"] = int(scale)
        if "enum" in data:
            out["allowed"] = list(data["enum"])
        if "coefficient" in data:
            out["coefficient"] = list(data["coefficient"])  # scaled by these EPCs (kept as data)
        return out, data.get("unit")

    def _state(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        values: dict[str, Any] = {}
        ranges: list[list[Any]] = []
        read_only: list[str] = []
        for entry in data["enum"]:
            label: Any = entry["name"]
            if label in ("true", "false"):
                label = label == "true"
            edt = entry["edt"]
            if "..." in edt:  # a range of codes sharing one name
                low, high = (_code(part) for part in edt.split("..."))
                ranges.append([low, high, label])
                continue
            values[f"0x{_code(edt):02X}"] = label
            if entry.get("readOnly"):
                read_only.append(f"0x{_code(edt):02X}")
        out: dict[str, Any] = {"kind": "enum", "size": data["size"], "values": values}
        if ranges:
            out["ranges"] = ranges
        if read_only:
            out["read_only"] = read_only
        return out, None

    def _numericValue(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        values = {f"0x{_code(e['edt']):02X}": e["numericValue"] for e in data["enum"]}
        return {"kind": "enum", "size": data["size"], "values": values}, None

    def _level(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        base = data.get("base", "0x00")
        size = max(1, (len(base) - 2) // 2)
        low = int(data.get("minimum", 1))
        return {
            "kind": "level",
            "size": size,
            "base": _code(base),
            "min": low,
            "max": int(data["maximum"]),
        }, None

    def _bitmap(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        fields = []
        for entry in data["bitmaps"]:
            value_type, _unit = self.convert(entry["value"])
            fields.append(
                {
                    "name": snake(entry["name"]),
                    "index": entry["position"]["index"],
                    "mask": int(entry["position"]["bitMask"], 2),
                    "type": value_type,
                }
            )
        return {"kind": "bitfield", "size": data["size"], "fields": fields}, None

    def _raw(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        low, high = int(data["minSize"]), int(data["maxSize"])
        if low == high:
            return {"kind": "raw", "size": low}, None
        return {"kind": "raw", "min_size": low, "max_size": high}, None

    def _date(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        size = int(data.get("size", 4))
        return ({"kind": "date"} if size == 4 else {"kind": "raw", "size": size}), None

    def _time(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        size = int(data.get("size", 3))
        if "maximumOfHour" in data:  # a duration: hours beyond 23
            hours = {"kind": "unsigned", "size": 1, "max": int(data["maximumOfHour"])}
            return {
                "kind": "struct",
                "fields": [
                    {"name": "hours", "type": hours},
                    {"name": "minutes", "type": {"kind": "unsigned", "size": 1, "max": 59}},
                ],
            }, None
        return {"kind": "time" if size == 2 else "time_hms"}, None

    def _date_time(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        size = int(data.get("size", 7))
        return {"kind": "datetime" if size == 7 else "datetime_hm"}, None

    def _array(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        item, unit = self.convert(data["items"])
        low, high = int(data.get("minItems", 0)), int(data["maxItems"])
        out: dict[str, Any] = {"kind": "array", "of": item}
        if low == high:
            out["count"] = high
        else:
            out.update(min_count=low, max_count=high)
        return out, unit

    def _object(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        fields = []
        for entry in data["properties"]:
            field_type, unit = self.convert(entry["element"])
            field: dict[str, Any] = {"name": snake(entry["shortName"]), "type": field_type}
            if unit:
                field["unit"] = unit
            fields.append(field)
        return {"kind": "struct", "fields": fields}, None

    def _one_of(self, alternatives: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
        converted = [self.convert(a) for a in alternatives]
        numbers = [t for t, _ in converted if t["kind"] in ("signed", "unsigned")]
        states = [t for t, _ in converted if t["kind"] == "enum"]
        unit = next((u for _, u in converted if u), None)
        if (
            len(numbers) == 1
            and len(numbers) + len(states) == len(converted)
            and all(s["size"] == numbers[0]["size"] and "ranges" not in s for s in states)
        ):
            # A number with codes that are not numbers (no data, overflow, auto...):
            # the codes decode to their names (APPENDIX: the code table beside the range).
            merged = dict(numbers[0])
            special = {code: label for s in states for code, label in s["values"].items()}
            signed = merged["kind"] == "signed"
            merged["special"] = {
                (str(_signed(_code(code), merged["size"])) if signed else code): label
                for code, label in special.items()
            }
            merged["special_labels"] = True
            return merged, unit
        # Codes first: alternatives overlap by design (a range and its special codes).
        ordered = sorted(converted, key=lambda tu: tu[0]["kind"] != "enum")
        return {"kind": "one_of", "of": [t for t, _ in ordered]}, unit


def _signed(code: int, size: int) -> int:
    return code - (1 << (8 * size)) if code >> (8 * size - 1) else code


def _release_key(text: str) -> int:
    return len(_RELEASES) if text == "latest" else _RELEASES.index(text)


def _access(rule: dict[str, str]) -> tuple[list[str], list[str]]:
    names = {"get": "get", "set": "set", "inf": "anno"}
    access = [
        names[op]
        for op in ("get", "set", "inf")
        if rule.get(op, "notApplicable") != "notApplicable"
    ]
    mandatory = [names[op] for op in ("get", "set", "inf") if rule.get(op) == "required"]
    return access, mandatory


def convert_class(
    source: dict[str, Any],
    converter: Converter,
    where: str,
    meta: dict[str, Any],
    rules: dict[str, Any] | None,
) -> dict[str, Any]:
    eoj = _code(source["eoj"])
    by_epc: dict[int, list[dict[str, Any]]] = {}
    for prop in source["elProperties"]:
        if prop["shortName"] == "DEL":
            continue  # a property the MRA leaves to the specification (property maps, 0x97)
        by_epc.setdefault(_code(prop["epc"]), []).append(prop)
    rule_by_epc = {_code(r["epc"]): r for r in (rules or {}).get("properties", [])}
    properties: dict[str, Any] = {}
    for epc, versions in sorted(by_epc.items()):
        versions.sort(key=lambda p: _release_key(p["validRelease"]["to"]), reverse=True)
        entries = [_entry(p, converter) for p in versions]
        newest = entries[0]
        if len(entries) > 1:
            newest["releases"] = entries[1:]
        if epc in rule_by_epc:
            newest["mc_rule"] = {k: v for k, v in rule_by_epc[epc].items() if k != "epc"}
        properties[f"0x{epc:02X}"] = newest
    out: dict[str, Any] = {
        "copyright": meta["Copyright"],
        "source": (
            f"ECHONET Consortium Machine Readable Appendix V{meta['dataVersion']} "
            f"(Release {meta['release']}, {meta['date']}), {where}"
        ),
        "generated_by": "specs/echonet/mra_import.py",
        "class": eoj,
        "name": snake(source["shortName"]),
        "short_name": source["shortName"],
        "title": source["className"]["en"],
        "title_ja": source["className"]["ja"],
        "valid_release": source["validRelease"],
    }
    if rules is not None:
        out["mc_rules"] = {"source": f"MCRules/{source['eoj']}_mcrule.json", "use": MC_RULES_NOTE}
    if eoj >> 8 != 0x0E and eoj != 0:
        out["inherits"] = "super"
    out["properties"] = properties
    return out


def _entry(prop: dict[str, Any], converter: Converter) -> dict[str, Any]:
    type_, unit = converter.convert(prop["data"])
    access, mandatory = _access(prop["accessRule"])
    entry: dict[str, Any] = {
        "name": snake(prop["shortName"]),
        "short_name": prop["shortName"],
        "title": prop["propertyName"]["en"],
        "title_ja": prop["propertyName"]["ja"],
        "type": type_,
    }
    if unit:
        entry["unit"] = unit
    entry.update(
        access=access,
        mandatory=mandatory,
        access_rule=prop["accessRule"],
        valid_release=prop["validRelease"],
    )
    if prop["validRelease"]["from"] != "A":
        entry["since"] = prop["validRelease"]["from"]
    if prop.get("atomic"):
        entry["atomic"] = prop["atomic"]
    return entry


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "/work/shared/mra/MRA_v1.3.1")
    meta = json.loads((root / "metaData.json").read_text("utf-8"))["metaData"]
    converter = Converter(
        json.loads((root / "definitions" / "definitions.json").read_text("utf-8"))["definitions"]
    )
    OUT.mkdir(exist_ok=True)
    sources = [
        *sorted(root.glob("devices/0x*.json")),
        root / "superClass" / "0x0000.json",
        root / "nodeProfile" / "0x0EF0.json",
    ]
    for path in sources:
        source = json.loads(path.read_text("utf-8"))
        rules_path = root / "MCRules" / f"{source['eoj']}_mcrule.json"
        rules = json.loads(rules_path.read_text("utf-8")) if rules_path.exists() else None
        where = f"{path.parent.name}/{path.name}"
        doc = convert_class(source, converter, where, meta, rules)
        target = OUT / f"{doc['class']:04X}.json"
        target.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"wrote {len(sources)} class files to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
