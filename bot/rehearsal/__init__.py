"""The offline rehearsal: a whole workshop, run by the real bot against the Bot API double.

`python -m bot rehearse` needs no token and no network. Simulated participants join by
the link, answer the DGCA and the evaluation, get the reminders on a simulated clock and
rate sessions; an organizer broadcasts and asks for reports. The clock then runs six
months on, checked every hour as the bot's scheduler would: plans get their check-ins and
reminders, and an association's officer gets the monthly digests. Transcripts, charts and
exports land in ./rehearsal/.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.content import Content
from bot.i18n import I18n
from bot.rehearsal.phases import PHASES, Phase
from bot.rehearsal.run import DEFAULT_OUT, DEFAULT_WORKSHOP, Options, Summary, UsageError, rehearse
from bot.rehearsal.world import RehearsalError

__all__ = [
    "DEFAULT_OUT",
    "DEFAULT_WORKSHOP",
    "PHASES",
    "Options",
    "Phase",
    "RehearsalError",
    "Summary",
    "command",
    "rehearse",
    "report",
]


def command(
    args: argparse.Namespace,
    content: Content,
    i18n: I18n,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the rehearsal for the command line; return 0, 1 (the bot misbehaved) or 2."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    options = Options(
        participants=args.participants,
        seed=args.seed,
        workshop=Path(args.workshop) if args.workshop else DEFAULT_WORKSHOP,
        out=Path(args.out) if args.out else DEFAULT_OUT,
        force=args.force,
        database=Path(args.database) if args.database else None,
        quiet=args.quiet,
    )
    try:
        summary = asyncio.run(rehearse(options, content, i18n, stderr=err))
    except UsageError as exc:
        err.write(f"error: {exc}\n")
        return 2
    except RehearsalError as exc:
        err.write(f"rehearsal FAILED: {exc}\n(the bot's log is {options.out / 'bot.log'})\n")
        return 1
    return report(summary, options.out, out, err)


def report(summary: Summary, folder: Path, out: TextIO, err: TextIO) -> int:
    """Print the figures, and what went wrong if anything did; return the exit code."""
    title = f"Rehearsal of {summary.workshop} with {summary.participants} simulated participants"
    out.write(f"{title} (seed {summary.seed})\n")
    out.write("\n".join(summary.lines(folder)) + "\n")
    if summary.ok:
        out.write(f"Read {folder / 'summary.md'} first; it links every transcript and file.\n")
        return 0
    err.write("rehearsal FAILED\n")
    if summary.failure:
        err.write(f"  stopped in phase {summary.failure}\n")
    for line in summary.errors[:10]:
        err.write(f"  the bot logged: {line.splitlines()[0]}\n")
    if len(summary.errors) > 10:
        err.write(f"  … and {len(summary.errors) - 10} more errors\n")
    for line in summary.violations[:10]:
        err.write(f"  Bot API protocol violation: {line}\n")
    if len(summary.violations) > 10:
        err.write(f"  … and {len(summary.violations) - 10} more violations\n")
    err.write(f"(the bot's full log is {folder / 'bot.log'}; transcripts show what happened)\n")
    return 1
