"""What every ``decode PROTOCOL`` shares: where frames come from, how they print, how it exits.

Input: one frame in hex as the argument (spaces, colons and a leading ``0x`` allowed), or
``-``: one frame per line of stdin, blank lines and lines starting with ``#`` skipped, each
line decoded on its own.

Output: text by default; with ``--json`` one indented JSON document for an argument, and
JSON Lines for stdin (one compact document per decoded line, with its ``line`` number).
Text for stdin puts ``# line N`` before each frame and a blank line between frames.

Exit status (:mod:`..failure`): 0 every frame decoded; 1 an operation failed on well-formed
input (a tag that does not verify, a wrong key); 2 bad input (malformed hex, bytes the
protocol does not allow, trailing bytes, a protected frame without its key). For several
lines the status is the worst one (2 over 1 over 0); each failing line is reported as
``error: line N: ...`` and the other lines still decode.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, Final

from ...errors import AuthError, DecodeError
from ..arguments import hex_bytes
from ..failure import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, report

__all__ = [
    "STDIN",
    "Decoder",
    "TextPrinter",
    "add_input_arguments",
    "frame_argument",
    "print_tree",
    "run_decoder",
]

#: The argument that means "read frames from stdin, one per line".
STDIN: Final = "-"
_COMMENT: Final = "#"

#: Bytes (and the parsed options) to the JSON-ready document of one frame.
Decoder = Callable[[bytes, argparse.Namespace], dict[str, Any]]
#: Prints one document as text.
TextPrinter = Callable[[dict[str, Any]], None]


def frame_argument(text: str) -> bytes | None:
    """The positional frame: bytes from hex, or ``None`` for ``-`` (stdin)."""
    if text.strip() == STDIN:
        return None
    return hex_bytes(text)


def add_input_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The positional ``HEX`` (or ``-``) and ``--json`` every decoder takes."""
    parser.add_argument(
        "frame",
        metavar="HEX",
        type=frame_argument,
        help=f"{what} in hex (spaces, colons, 0x allowed); '-' reads one frame per line "
        "from stdin ('#' lines and blank lines skipped)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print typed JSON (JSON Lines, one document per frame, when reading stdin)",
    )


def _stdin_frames() -> Iterator[tuple[int, str]]:
    for number, line in enumerate(sys.stdin, start=1):
        text = line.strip()
        if text and not text.startswith(_COMMENT):
            yield number, text


def _one(
    data: bytes, args: argparse.Namespace, decode: Decoder
) -> tuple[dict[str, Any] | None, int, str]:
    """(document, exit status, error message) of one frame."""
    try:
        return decode(data, args), EXIT_OK, ""
    except DecodeError as exc:
        return None, EXIT_USAGE, str(exc)
    except AuthError as exc:
        return None, EXIT_FAILED, str(exc)
    except CliError as exc:
        return None, exc.code, exc.message


def run_decoder(args: argparse.Namespace, decode: Decoder, print_text: TextPrinter) -> int:
    """Decode the argument or every stdin line; print; return the (worst) exit status."""
    if args.frame is not None:
        doc, status, message = _one(args.frame, args, decode)
        if doc is None:
            report(message)
        elif args.json:
            print(json.dumps(doc, indent=2, ensure_ascii=False))
        else:
            print_text(doc)
        return status
    worst, printed = EXIT_OK, 0
    for number, text in _stdin_frames():
        try:
            data = hex_bytes(text)
        except argparse.ArgumentTypeError as exc:
            doc, status, message = None, EXIT_USAGE, f"hex: {exc}"
        else:
            doc, status, message = _one(data, args, decode)
        worst = max(worst, status)
        if doc is None:
            report(f"line {number}: {message}")
        elif args.json:
            print(json.dumps({"line": number, **doc}, ensure_ascii=False), flush=True)
        else:
            print(f"{'' if not printed else chr(10)}{_COMMENT} line {number}")
            print_text(doc)
            sys.stdout.flush()
        printed += doc is not None
    return worst


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def print_tree(doc: dict[str, Any], indent: str = "") -> None:
    """A document as indented ``key: value`` lines (lists of objects as ``- `` items)."""
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            print(f"{indent}{key}:")
            print_tree(value, indent + "  ")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            print(f"{indent}{key}:")
            for item in value:
                print(f"{indent}  -")
                print_tree(item, indent + "    ")
        else:
            print(f"{indent}{key}: {_scalar(value)}")
