"""Conformance reports: readable text, and JUnit XML (``xml.etree``) for CI dashboards."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Final

from .checks import CHECKS, Outcome, Result
from .runner import Report

__all__ = ["junit_xml", "result_line", "summary_line", "text_report", "write_junit"]

SUITE_NAME: Final = "echonet-lite-conformance"


#: Width of the check-id column: the longest id, so lines printed one by one align.
ID_WIDTH: Final = max(len(check_id) for check_id in CHECKS)


def result_line(result: Result) -> str:
    """One check's line: outcome, id, subject, reason."""
    return (
        f"{result.outcome.value:<4}  {result.check_id:<{ID_WIDTH}}  {result.subject:<6}  "
        f"{result.reason}"
    )


def summary_line(report: Report) -> str:
    """The totals; an interrupted run says so."""
    interrupted = "" if report.complete else " (interrupted)"
    return (
        f"{len(report.results)} checks: {report.count(Outcome.PASS)} passed, "
        f"{report.count(Outcome.FAIL)} failed, {report.count(Outcome.SKIP)} skipped "
        f"in {report.duration_s:.1f} s{interrupted}"
    )


def text_report(report: Report) -> str:
    """One line per check: outcome, id, subject, reason; then the totals."""
    lines = [f"ECHONET Lite conformance: {report.target}"]
    lines.extend(result_line(result) for result in report.results)
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"


def junit_xml(report: Report) -> bytes:
    """A ``<testsuites>`` document with one ``<testsuite>``; each check a ``<testcase>``.

    A failed check carries a ``<failure>`` whose message is the reason and
    whose text cites the rule; a skipped one a ``<skipped>`` with its reason.
    """
    root = ET.Element("testsuites")
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": SUITE_NAME,
            "tests": str(len(report.results)),
            "failures": str(report.count(Outcome.FAIL)),
            "errors": "0",
            "skipped": str(report.count(Outcome.SKIP)),
            "time": f"{report.duration_s:.3f}",
            "hostname": report.target,
        },
    )
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"conformance.{result.check_id}",
                "name": f"{result.check_id}[{result.subject}]",
                "time": f"{result.duration_s:.3f}",
            },
        )
        if result.outcome is Outcome.FAIL:
            failure = ET.SubElement(
                case, "failure", {"message": result.reason, "type": result.check_id}
            )
            failure.text = f"{result.check.title}\nRule: {result.check.rule}\n{result.reason}"
        elif result.outcome is Outcome.SKIP:
            ET.SubElement(case, "skipped", {"message": result.reason})
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def write_junit(report: Report, path: str | Path) -> None:
    Path(path).write_bytes(junit_xml(report))
