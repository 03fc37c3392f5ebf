"""Each benchmark's --quick mode runs to the end and prints well-formed figures.

Nothing here checks speed: the figures depend on the machine. The checks are that every
run finished cleanly (no "!" problem marker: all answers given, no protocol violation, no
error in the bot's log, exit status 0) and that the summary lines are there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"\d+(?:\.\d+)?"
SPREAD = rf"{NUMBER}(?: \w+)? \({NUMBER}–{NUMBER}(?: \w+)?\)"
VERDICT = r"(?:met|NOT met)"


def run_quick(module: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Machine: python" in out and "load average" in out, out
    problems = [line for line in out.splitlines() if "  ! " in line]
    assert problems == [], out
    return out


def test_answers_quick() -> None:
    out = run_quick("answers")
    assert re.search(rf"^\s+1\s+bot\s+{NUMBER}\s", out, re.M), out
    assert re.search(rf"^\s+1\s+bare\s+{NUMBER}\s", out, re.M), out
    assert re.search(rf"ratio real/bare \(per round\) {SPREAD}", out), out
    assert re.search(rf"Goal: answers/s .* {NUMBER} {VERDICT}$", out, re.M), out
    if os.environ.get("TEST_DATABASE_URL"):
        assert re.search(rf"^\s+1\s+pg\s+{NUMBER}\s", out, re.M), out
        assert re.search(rf"Goal: answers/s on PostgreSQL .* {NUMBER} {VERDICT}$", out, re.M), out


def test_latency_quick() -> None:
    out = run_quick("latency")
    assert re.search(rf"^\s+1\s+sqlite\s+15\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}", out, re.M), out
    assert re.search(rf"sqlite: bot-side latency p50 {SPREAD}, p99 {SPREAD}", out), out
    assert re.search(rf"Goal: bot-side p99 < 50 ms: {NUMBER} ms {VERDICT}$", out, re.M), out
    if os.environ.get("TEST_DATABASE_URL"):
        assert re.search(rf"^\s+1\s+postgresql\s+15\s+{NUMBER}\s", out, re.M), out
        assert re.search(
            rf"Goal: bot-side p99 on PostgreSQL < 50 ms: {NUMBER} ms {VERDICT}$", out, re.M
        ), out


def test_startup_quick() -> None:
    out = run_quick("startup")
    assert re.search(r"generated 2 workshops, 20 participants and (\d+) pending", out), out
    pending = int(re.search(r"and (\d+) pending", out)[1])  # type: ignore[index]
    assert pending >= 100
    # One job at the soonest occasion, whatever the number pending, plus the safety tick.
    assert re.search(rf"^\s+1\s+{NUMBER}\s+{NUMBER}\s+2\s+{NUMBER}$", out, re.M), out
    assert re.search(rf"in process \(build_application .*\)\s+{NUMBER} s {VERDICT}", out), out
    assert re.search(rf"python -m bot run \(process start .*\)\s+{NUMBER} s {VERDICT}", out), out


def test_memory_quick() -> None:
    out = run_quick("memory")
    row = re.search(rf"^\s+1\s+3\s+108\s+((?:{NUMBER}\s+){{6}}{NUMBER})$", out, re.M)
    assert row, out
    assert re.search(rf"Goal: peak RSS < 150 MB: {NUMBER} MB {VERDICT}$", out, re.M), out


GOAL = (
    rf"\[.*\(load {NUMBER}\).*\]; goal < {NUMBER} (?:s|MB|ms) (?:median|in every run): {VERDICT}$"
)


def test_report_quick() -> None:
    out = run_quick("report")
    assert re.search(r"^run 1: 30 participants, .* load average", out, re.M), out
    for figure in ("XLSX", "full report", "peak RSS during the report", "worst event-loop stall"):
        assert re.search(rf"^  {figure}: {NUMBER} (?:s|MB|ms) {GOAL}", out, re.M), out


def test_progress_export_quick() -> None:
    out = run_quick("progress_export")
    assert re.search(r"^20 plans x 5 steps x 4 updates per step", out, re.M), out
    assert re.search(rf"XLSX {NUMBER} s \({NUMBER} KB\)", out), out
    for figure in ("XLSX", "dashboard and export", "peak RSS during the run"):
        assert re.search(rf"^  {figure}: {NUMBER} (?:s|MB) {GOAL}", out, re.M), out


def test_xlsx_writers_quick() -> None:
    out = run_quick("xlsx_writers")
    for writer in ("xlsxwriter constant_memory", "openpyxl write-only"):
        assert re.search(rf"^  {writer}\s+1\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}", out, re.M), out


def test_instances_quick() -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("TEST_DATABASE_URL is not set: the benchmark needs a PostgreSQL server")
    out = run_quick("instances")
    assert re.search(rf"^\s+1\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", out, re.M), out
    assert re.search(rf"^\s+2\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}$", out, re.M), out
    assert re.search(rf"scaling two/one \(per round\) {SPREAD}", out), out
    assert "What limits it:" in out, out
