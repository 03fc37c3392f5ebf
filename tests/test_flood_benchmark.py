"""The flood benchmark runs end to end with tiny numbers and prints well-formed figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import flood

ROOT = Path(__file__).resolve().parents[1]


def test_arguments_default_and_quick() -> None:
    full = flood.parse([])
    assert (full.participants, full.answers, full.rounds) == (20, 8, 3)
    quick = flood.parse(["--quick", "--rounds", "2"])
    assert (quick.participants, quick.answers, quick.rounds) == (3, 2, 2)
    with pytest.raises(SystemExit):
        flood.parse(["--answers", "18"])


@pytest.mark.slow
def test_quick_run_prints_both_phases_and_the_ratio() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.flood", "--quick", "--answers", "1", "--think", "1.1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    number = r"\d+"
    row = re.search(
        rf"^\s+1\s+({number})\s+({number})\s+({number})\s+({number})\s+({number})\s+({number})"
        rf"\s+({number})\s+({number})\s+({number})\s+[\d.]+s!?$",
        out,
        re.MULTILINE,
    )
    assert row, out
    calm50, calm99, flood50, flood99, sent, _, _, _, errors = (int(g) for g in row.groups())
    assert 0 < calm50 <= calm99 and 0 < flood50 <= flood99
    assert sent > 0
    assert errors == 0, out
    assert re.search(r"calm\s+p50 \d+\s+p99 \d+", out), out
    assert re.search(r"flood\s+p50 \d+\s+p99 \d+", out), out
    assert re.search(r"ratio flood/calm\s+p50 [\d.]+\s+p99 [\d.]+", out), out
