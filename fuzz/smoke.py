"""One command for CI: replay every corpus, then a short mutation run per target.

    python fuzz/smoke.py                     # replay + 2.5 s of mutation per target
    python fuzz/smoke.py --seconds 10 --seed 5 --targets j11_frame,echonet_frame
    python fuzz/smoke.py --throughput        # also print the execs/s table (markdown)
    python fuzz/smoke.py --write-seeds       # rebuild the seed files from tests/vectors
    python fuzz/smoke.py --stateful-inputs 0 # without the stateful harnesses

The mutation run is structure-aware + byte-level with a fixed seed; then every stateful
harness (fuzz/stateful.py) takes 1 500 inputs through one object. A crash writes its
reproducer to ``fuzz/corpus/<target>/crash-<sha1>`` and the exit status is 1, with the
target and traceback on stderr. Reproducers named in ``fuzz/known_crashes.txt`` are
skipped, and a mutant that fails with a known crash's signature is counted, not fatal.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from _harness import (
    CORPUS_DIR,
    TARGET_NAMES,
    Crash,
    check,
    corpus_files,
    get_target,
    known_crashes,
    mutation_run,
)


def _write_crash(crash: Crash) -> Path:
    folder = CORPUS_DIR / crash.target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{crash.sha1}"
    path.write_bytes(crash.data)
    return path


def _fail(crash: Crash, where: str) -> None:
    print(f"\nCRASH in target {crash.target} ({where})\n{crash.report()}", file=sys.stderr)


def replay(name: str) -> tuple[int, list[Crash]]:
    """Every corpus file of ``name`` except the known crashes; memory is measured too."""
    target = get_target(name)
    skip = {k.file for k in known_crashes() if k.target == name}
    known = {k.signature for k in known_crashes() if k.target == name}
    crashes: list[Crash] = []
    count = 0
    for path in corpus_files(name):
        if path.name in skip:
            continue
        count += 1
        try:
            check(target, path.read_bytes(), memory=True)
        except Crash as crash:
            if crash.signature in known:  # the shape cache makes some depend on history
                print(f"{name}: {path.name} hits known crash {crash.signature}")
                continue
            crashes.append(crash)
            _fail(crash, f"corpus file {path.relative_to(CORPUS_DIR)}")
    return count, crashes


def fuzz(name: str, seconds: float, seed: int) -> tuple[int, float, int, list[Crash]]:
    """A bounded mutation run; returns (execs, elapsed, known hits, new crashes)."""
    target = get_target(name)
    known = {k.signature for k in known_crashes() if k.target == name}
    new: list[Crash] = []
    hits = 0

    def on_crash(crash: Crash) -> bool:
        nonlocal hits
        if crash.signature in known:
            hits += 1
            return True
        new.append(crash)
        path = _write_crash(crash)
        _fail(crash, f"mutation run, seed {seed}; reproducer {path.relative_to(CORPUS_DIR)}")
        return False

    execs, elapsed = mutation_run(target, seconds=seconds, seed=seed, on_crash=on_crash)
    return execs, elapsed, hits, new


# --------------------------------------------------------------------------- seed corpus
REPO = CORPUS_DIR.parents[1]
VECTORS = REPO / "tests" / "vectors"


def _echonet_vectors() -> dict[str, bytes]:
    """Every frame of tests/vectors/echonet/*.hex (real captures; sources in its README)."""
    out: dict[str, bytes] = {}
    for path in sorted((VECTORS / "echonet").glob("*.hex")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, hexdata = line.strip().partition(" ")
            out[f"{path.stem}-{name}"] = bytes.fromhex(hexdata.replace(" ", ""))
    return out


def _j11_vectors() -> dict[str, bytes]:
    """Every frame of tests/vectors/j11/frames.json (ROHM, Tosainu, ak1211 sources)."""
    doc = json.loads((VECTORS / "j11" / "frames.json").read_text(encoding="utf-8"))
    return {f["name"]: bytes.fromhex(f["hex"].replace(" ", "")) for f in doc["frames"]}


def _skstack_transcripts() -> list[tuple[str, bytes]]:
    """(dialect, dongle output) of the transcripts in tests/wisun/test_skstack.py."""
    spec = importlib.util.spec_from_file_location(
        "_skstack_transcripts", REPO / "tests" / "wisun" / "test_skstack.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError("tests/wisun/test_skstack.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [(dialect, data) for dialect, data, _sent in module.TRANSCRIPTS]


def _node_requests() -> dict[str, bytes]:
    """Requests of every ESV to the meter and the node profile, and the meter's answers."""
    from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property, encode
    from smartmeter_proto.sim.meter import meter_node

    controller, meter, profile = EOJ(5, 0xFF, 1), EOJ(2, 0x88, 1), EOJ(0x0E, 0xF0, 1)
    node = meter_node(now=0.0)
    out: dict[str, bytes] = {}
    gets = tuple(Property(e) for e in (0x80, 0x8A, 0x9F, 0xD3, 0xD7, 0xE0, 0xE1, 0xE7, 0xE8))
    requests = {
        "get-meter": Frame(1, controller, meter, ESV.GET, gets),
        "get-meter-all": Frame(
            2, controller, meter, ESV.GET, tuple(Property(e) for e in range(0x80, 0x100))[:40]
        ),
        "get-profile": Frame(
            3,
            controller,
            profile,
            ESV.GET,
            tuple(
                Property(e)
                for e in (0x80, 0x82, 0x83, 0x8A, 0x9D, 0x9E, 0x9F, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7)
            ),
        ),
        "get-instance-0": Frame(4, controller, EOJ(2, 0x88, 0), ESV.GET, (Property(0x80),)),
        "inf-req": Frame(5, controller, meter, ESV.INF_REQ, (Property(0xE7),)),
        "setc-e5": Frame(6, controller, meter, ESV.SETC, (Property(0xE5, b"\x01"),)),
        "seti-80": Frame(7, controller, meter, ESV.SETI, (Property(0x80, b"\x30"),)),
        "setc-bad-edt": Frame(8, controller, meter, ESV.SETC, (Property(0xED, b"\x07"),)),
        "setget": Frame(
            9, controller, meter, ESV.SETGET, (Property(0xE5, b"\x02"),), (Property(0xE2),)
        ),
        "inf-to-node": Frame(10, meter, controller, ESV.INF, (Property(0xE7, bytes(4)),)),
        "get-unknown-object": Frame(11, controller, EOJ(1, 0x30, 1), ESV.GET, (Property(0x80),)),
    }
    for name, frame in requests.items():
        data = encode(frame)
        out[f"request-{name}"] = data
        node.receive_data(data, ("192.0.2.1", 3610), 1.0)
        for index, (answer, _addr) in enumerate(node.datagrams_to_send()):
            out[f"answer-{name}-{index}"] = answer
    return out


def _edge_frames() -> dict[str, bytes]:
    return {
        "edge-empty": b"",
        "edge-ehd-only": b"\x10\x81",
        "edge-header-only": bytes.fromhex("1081000105FF01028801"),
        "edge-no-opc": bytes.fromhex("1081000105FF0102880162"),
        "edge-opc-0": bytes.fromhex("1081000105FF010288016200"),
        "edge-opc-lie": bytes.fromhex("1081000105FF01028801620380"),
        "edge-pdc-lie": bytes.fromhex("1081000105FF010288017201E7FF00"),
        "edge-trailing": bytes.fromhex("1081000105FF010288016201E70000"),
        "edge-format2-empty": bytes.fromhex("10820001"),
        "edge-unknown-esv": bytes.fromhex("1081000105FF010288017F01E700"),
        "edge-opc-255": bytes.fromhex("1081000105FF01028801FF") + bytes.fromhex("8000") * 255,
    }


def _property_seeds(frames: dict[str, bytes]) -> dict[str, bytes]:
    """(class index, EPC, EDT) for EPCs of every spec class, real EDTs first."""
    from smartmeter_proto.echonet.frame import Frame, decode
    from smartmeter_proto.echonet.properties import decode_property
    from smartmeter_proto.echonet.specs import known_classes, load_class
    from smartmeter_proto.errors import DecodeError

    classes = known_classes()
    real: dict[tuple[int, int], bytes] = {}
    for data in frames.values():
        try:
            frame = decode(data)
        except DecodeError:
            continue
        if isinstance(frame, Frame):
            for prop in (*frame.properties, *frame.get_properties):
                if prop.edt and frame.seoj.class_id in classes:
                    real.setdefault((frame.seoj.class_id, prop.epc), prop.edt)
    out: dict[str, bytes] = {}
    guesses = (b"\x30", b"\x41", bytes(1), bytes(2), bytes(4), bytes(7), bytes(17), b"\x01\x80")
    for index, class_id in enumerate(classes):
        spec = load_class(class_id)
        epcs = sorted(spec.properties) if spec is not None else []
        for epc in epcs[:PROPERTY_SEEDS_PER_CLASS]:
            candidates = [real[class_id, epc]] if (class_id, epc) in real else list(guesses)
            edt = candidates[0]
            for candidate in candidates:
                try:
                    decode_property(class_id, epc, candidate)
                except DecodeError:
                    continue
                edt = candidate
                break
            out[f"{class_id:04x}-{epc:02x}"] = bytes((index, epc)) + edt
    return out


#: Seeds per class for echonet_property: keeps the corpus at a few hundred files.
PROPERTY_SEEDS_PER_CLASS = 8


def build_seeds() -> dict[str, dict[str, bytes]]:
    """Seed files per target: real vectors, emulated sessions and edge cases."""
    sys.path.insert(0, str(CORPUS_DIR.parent))
    import broute_input

    from smartmeter_proto.wisun.skstack.dialects import dialect_names

    vectors, node, edges = _echonet_vectors(), _node_requests(), _edge_frames()
    frames = {**vectors, **node, **edges}
    answers = {k: v for k, v in node.items() if k.startswith("answer-")}
    requests = {k: v for k, v in node.items() if k.startswith("request-")}
    dialects = dialect_names()
    lines: dict[str, bytes] = {}
    streams: dict[str, bytes] = {}
    for dialect, data in _skstack_transcripts():
        opts = dialects.index(dialect)
        streams[f"{dialect}-whole"] = bytes((opts, 0)) + data
        streams[f"{dialect}-chunk5"] = bytes((opts, 5)) + data
        for number, line in enumerate(data.replace(b"\r\n", b"\r").split(b"\r")):
            if line and not line.startswith(b"  "):
                word = line.split(b" ")[0].decode("latin-1")
                if sum(k.startswith(f"{dialect}-{word}-") for k in lines) < 3:
                    lines[f"{dialect}-{word}-{number:03}"] = bytes((opts,)) + line
    sessions = broute_input.make_seeds()
    host = broute_input.host_commands()
    j11 = _j11_vectors()
    j11_stream = {
        "all-vectors": b"".join(j11.values()),
        "vectors-with-junk": b"\x00\xd0\xea" + b"\xff".join(list(j11.values())[:8]),
        "j11-session": sessions["session-j11"][2:],
        "j11-host": host["j11"],
    }
    commands: dict[str, bytes] = {}
    for model, data in host.items():
        if model == "j11":
            continue
        head = bytes((dialects.index(broute_input.DIALECTS[model]),))
        commands[f"{model}-host"] = head + data
        for line in data.split(b"\r\n"):
            word = line.split(b" ")[0].decode("latin-1")
            if word.isalnum():
                commands.setdefault(f"{model}-{word}", head + line + b"\r\n")
    return {
        "echonet_frame": frames,
        "echonet_typed": {**vectors, **answers, **edges},
        "echonet_session": {**vectors, **answers, **edges},
        "echonet_node": {**requests, **edges, **dict(list(vectors.items())[:12])},
        "echonet_property": _property_seeds(frames),
        "skstack_line": lines,
        "skstack_stream": streams,
        "skstack_command": commands,
        "j11_frame": j11,
        "j11_message": j11,
        "j11_stream": j11_stream,
        "broute_input": sessions,
    }


def write_seeds() -> dict[str, int]:
    """Replace the seed files (not crash-/known- reproducers) of every target."""
    counts: dict[str, int] = {}
    for name, files in build_seeds().items():
        folder = CORPUS_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            if not old.name.startswith(("crash-", "known-")):
                old.unlink()
        for stem, data in files.items():
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
            (folder / safe).write_bytes(data)
        counts[name] = len(files)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.5, help="mutation time per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default=",".join(TARGET_NAMES))
    parser.add_argument("--throughput", action="store_true", help="print a markdown table")
    parser.add_argument("--write-seeds", action="store_true", help="rebuild the seed corpus")
    parser.add_argument(
        "--stateful-inputs",
        type=int,
        default=1500,
        help="inputs per stateful subject (fuzz/stateful.py); 0 skips them",
    )
    args = parser.parse_args(argv)
    if args.write_seeds:
        for name, count in write_seeds().items():
            print(f"{name}: {count} seed files")
        return 0
    names = [n for n in args.targets.split(",") if n]
    unknown = sorted(set(names) - set(TARGET_NAMES))
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    failed = False
    rows: list[tuple[str, int, int, float, int]] = []
    start = time.perf_counter()
    for name in names:
        replayed, crashes = replay(name)
        failed |= bool(crashes)
        execs, elapsed, hits, new = fuzz(name, args.seconds, args.seed)
        failed |= bool(new)
        rows.append((name, replayed, execs, elapsed, hits))
        status = "CRASH" if crashes or new else "ok"
        known = f", {hits} known-crash hits" if hits else ""
        rate = execs / max(elapsed, 1e-9)
        print(
            f"{name:17} corpus {replayed:4} replayed, "
            f"{execs:6} mutants in {elapsed:4.1f} s ({rate:7.0f}/s){known}: {status}",
            flush=True,
        )
    for name in names:
        outcomes = getattr(sys.modules.get(name), "OUTCOMES", None)
        if outcomes:
            print(f"{name} verdicts: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    if args.stateful_inputs:
        import stateful

        for subject in stateful.SUBJECTS.values():
            result = stateful.run(subject, inputs=args.stateful_inputs, seed=args.seed)
            failed |= not result.ok
            print(
                f"stateful {subject.name:19} {result.inputs:5} inputs in {result.seconds:4.1f} s, "
                f"growth {result.growth / 1024:6.1f} KiB of {subject.budget // 1024} KiB: "
                f"{'ok' if result.ok else 'FAIL'}",
                flush=True,
            )
            if result.failure:
                print(result.failure, file=sys.stderr)
    print(f"fuzz smoke: {len(names)} targets in {time.perf_counter() - start:.1f} s")
    if args.throughput:
        print("\n| target | corpus files | mutants | execs/s |\n|---|---:|---:|---:|")
        for name, replayed, execs, elapsed, _hits in rows:
            print(f"| {name} | {replayed} | {execs} | {execs / max(elapsed, 1e-9):.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
