"""Golden transcripts: a small rehearsal's chats, compared with copies kept in this folder.

The rehearsal runs the real bot offline on a simulated clock, so the same seed gives the
same conversations. What still varies from run to run is normalized here, and only that:

* deep-link tokens (join codes, organizer, viewer and team invitations) are random by
  design; each becomes `<token-N>`, numbered in order of first appearance over all the
  run's transcripts, so a code the organizer shares and a participant types stay equal;
* in summary.json, the wall-clock durations and the bytes of files written (charts and
  exports carry the random join link's QR code and the wall-clock time of the export).

Texts, button labels, times on the simulated clock and message numbers are compared as
they are. The rehearsal runs with `stable` on: a tapped button's pop-up is written right
after the tap, and a broadcast's progress after every message (see `Options.stable`).

Check: `.venv/bin/pytest tests/test_golden.py`. Update on purpose (then review the diff):
`.venv/bin/python -m tests.golden --update`.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import io
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.rehearsal import Options, Summary, rehearse
from tests.support import load_i18n, load_test_content

FOLDER = Path(__file__).parent
PARTICIPANTS = 4
SEED = 3
UPDATE_COMMAND = ".venv/bin/python -m tests.golden --update"
# Golden file → the transcript it keeps. With 4 people and seed 3, p02 and p04 finish the
# DGCA (in Spanish, in English); p01 stops it midway, skips the evaluation, writes a plan,
# lets the 1-month check-in and its reminder pass, and reports a blocked step at 3 months.
# The association's officer gets a digest on the first of each month for six months.
TRANSCRIPTS = {
    "participant-es.md": "p02-rosa-mamani",
    "participant-en.md": "p04-diego-choque",
    "participant-checkin.md": "p01-juan-vargas",
    "organizer.md": "organizer",
    "organizers-group.md": "organizers-group",
    "association-officer.md": "viewer",
}
SUMMARY = "summary.json"
NAMES = (*TRANSCRIPTS, SUMMARY)
# Measured on the wall clock, or bytes of files that embed the random join link or the
# wall-clock time: the same seed cannot give the same numbers.
UNSTABLE_FIGURES = ("wall_seconds", "phase_seconds", "bytes_written", "bot_edits")
# With several sends in flight, how many times a broadcast's progress message is edited
# before the end depends on when Telegram's answers come back; its final text does not.
PROGRESS_EDIT = re.compile(
    r"\*\*\d\d:\d\d\*\* 🤖 edits #\d+:\n\n> 📤 (?:Enviando|Sending)…[^\n]*\n(?:>[^\n]*\n)*\n?"
)
TOKEN_PREFIXES = ("org-", "view-", "team-")
# A payload after `?start=` in a link or `/start ` as typed; the shortest token is 12
# characters (9 random bytes), so fixed payloads like `dgca` are left alone.
PAYLOAD = re.compile(
    r"(?:\?start=|/start )(?:" + "|".join(TOKEN_PREFIXES) + r")?([A-Za-z0-9_-]{12,})"
)
DIFF_LINES = 80


@dataclass(frozen=True)
class Outcome:
    """A rehearsal's summary and its normalized outputs, by golden file name."""

    summary: Summary
    outputs: dict[str, str]
    missing: list[str]


def normalize_tokens(texts: list[str]) -> list[str]:
    """Replace every deep-link token in the texts by `<token-N>`, the same token alike."""
    names: dict[str, str] = {}
    for text in texts:
        for token in PAYLOAD.findall(text):
            names.setdefault(token, f"<token-{len(names) + 1}>")
    if not names:
        return list(texts)
    # Longest first, so that a token never loses a tail to a shorter one.
    anywhere = re.compile("|".join(re.escape(t) for t in sorted(names, key=len, reverse=True)))
    return [anywhere.sub(lambda m: names[m.group(0)], text) for text in texts]


def stable_summary(written: str) -> str:
    """Return summary.json without the figures that differ between runs of one seed."""
    figures = json.loads(written)
    for key in UNSTABLE_FIGURES:
        figures.pop(key, None)
    return json.dumps(figures, indent=2, ensure_ascii=False) + "\n"


def collect(out: Path, summary: Summary) -> Outcome:
    """Read a rehearsal's results from `out` and normalize the ones kept as goldens."""
    # Every transcript, in a fixed order, so tokens are numbered the same way each run.
    paths = sorted((out / "transcripts").glob("*.md"))
    texts = dict(
        zip(
            (p.stem for p in paths),
            normalize_tokens([p.read_text("utf-8") for p in paths]),
            strict=True,
        )
    )
    outputs = {
        name: PROGRESS_EDIT.sub("", texts[slug])
        for name, slug in TRANSCRIPTS.items()
        if slug in texts
    }
    missing = [f"{slug}.md" for slug in TRANSCRIPTS.values() if slug not in texts]
    summary_path = out / "summary.json"
    if summary_path.exists():
        outputs[SUMMARY] = stable_summary(summary_path.read_text("utf-8"))
    else:
        missing.append(SUMMARY)
    return Outcome(summary, outputs, missing)


def run(out: Path) -> Outcome:
    """Rehearse the golden workshop into `out` (a new folder) and collect the results."""
    options = Options(participants=PARTICIPANTS, seed=SEED, out=out, quiet=True, stable=True)
    stderr = io.StringIO()
    summary = asyncio.run(rehearse(options, load_test_content(), load_i18n(), stderr=stderr))
    return collect(out, summary)


def problems(outcome: Outcome) -> list[str]:
    """Return why the rehearsal cannot stand for the goldens, if it cannot."""
    s = outcome.summary
    found = [f"the rehearsal stopped in phase {s.failure}"] if s.failure else []
    found += [f"the bot logged: {line}" for line in s.errors]
    found += [f"Bot API protocol violation: {line}" for line in s.violations]
    found += [f"the rehearsal wrote no {name}" for name in outcome.missing]
    return found


def difference(name: str, actual: str, folder: Path = FOLDER) -> str | None:
    """Compare an output with its golden file; return a readable diff, or None if equal."""
    path = folder / name
    if not path.exists():
        return f"There is no golden {name} yet. Create it with: {UPDATE_COMMAND}"
    expected = path.read_text("utf-8")
    if expected == actual:
        return None
    lines = list(
        difflib.unified_diff(
            expected.splitlines(),
            actual.splitlines(),
            fromfile=f"tests/golden/{name} (golden)",
            tofile=f"{name} (this run)",
            lineterm="",
        )
    )
    if not lines:
        lines = ["(the texts differ only in line endings or a final newline)"]
    shown = lines[:DIFF_LINES]
    if len(lines) > DIFF_LINES:
        shown.append(f"… {len(lines) - DIFF_LINES} more diff lines")
    return "\n".join(
        [
            f"{name} differs from its golden:",
            *shown,
            "",
            f"If the change is meant, update the goldens with: {UPDATE_COMMAND}",
            "and review `git diff tests/golden` before committing.",
        ]
    )


def write(outputs: dict[str, str], folder: Path = FOLDER) -> list[str]:
    """Write the outputs as the new goldens; return the names of the files that changed."""
    changed = []
    for name in NAMES:
        path = folder / name
        text = outputs[name]
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Run the golden rehearsal; compare with the goldens, or rewrite them with --update."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.golden",
        description="Compare a small rehearsal with the golden transcripts in tests/golden/.",
    )
    parser.add_argument(
        "--update", action="store_true", help="rewrite the goldens from this run instead"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        outcome = run(Path(tmp) / "out")
    trouble = problems(outcome)
    if trouble:
        print("The rehearsal did not run clean; the goldens are left alone:", file=sys.stderr)
        for line in trouble:
            print(f"  {line.splitlines()[0]}", file=sys.stderr)
        return 1
    if args.update:
        changed = write(outcome.outputs)
        print(f"Updated {', '.join(changed)}" if changed else "The goldens were up to date.")
        return 0
    diffs = [d for name in NAMES if (d := difference(name, outcome.outputs[name]))]
    for diff in diffs:
        print(diff + "\n")
    if not diffs:
        print(f"All {len(NAMES)} goldens match.")
    return 1 if diffs else 0
