"""Conformance testing of ECHONET Lite nodes: checks, a runner with bounded fuzzing, reports."""

from .checks import CHECKS, CheckInfo, Outcome, Result
from .report import junit_xml, text_report, write_junit
from .runner import FUZZ_ALIVE, MAX_FUZZ_FRAMES, Report, RunConfig, run_conformance

__all__ = [
    "CHECKS",
    "FUZZ_ALIVE",
    "MAX_FUZZ_FRAMES",
    "CheckInfo",
    "Outcome",
    "Report",
    "Result",
    "RunConfig",
    "junit_xml",
    "run_conformance",
    "text_report",
    "write_junit",
]
