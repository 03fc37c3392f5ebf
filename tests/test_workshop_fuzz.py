"""Fuzzing workshop files: a mutated file imports, or is refused with its line; never a traceback.

Each example takes a valid workshop file (content/workshops/*.yaml, workshop files under
tests/data/, and the Cochabamba file moved to Santiago de Chile around each of its 2026 clock
changes), changes one to three values, keys or YAML features in it, sometimes the whole text
too, and reads the bytes the two ways the bot does: as an upload in chat (decoded as UTF-8, then
`parse_workshop_text`, what `import_document` calls) and from the command line
(`load_workshop_file`). Both must give the same answer, each in under five seconds (an alias
bomb or a runaway loop shows as slowness, not as a hung CI job):

- an import: the workshop plans its schedule, survives the round trip through its stored JSON,
  and every time in it exists in its time zone, in a year from 2000 to 2100;
- or a ContentError whose every problem begins "line N: " or "line N, field: ", N a line of
  the file (only an empty file gets a message with no line);
- or, for bytes that are not UTF-8, the upload's polite answer (and a line from the CLI).

CI runs the same 600 examples every time (a fixed seed, derandomize); FUZZ_PROFILE=long
(environment) explores 5,000 new ones by hand. The CI run (hypothesis 6.170, two cores): 600
files, 93 imported, 452 refused with lines, 55 not UTF-8, none crashed, in 9 s (the split
moves a little when this file changes). Three long runs: 15,000 files, none crashed.
Another 150 examples check that PyYAML's own parser, used when libyaml is missing, gives
the same answers as libyaml.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.content
from bot.content import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    ContentError,
    WorkshopFile,
    load_workshop_file,
    parse_model,
    skipped,
)
from bot.flows.schedule import plan
from bot.flows.workshops import parse_workshop_text
from tests.support import CONTENT_DIR, DATA

# CI feeds the same examples every run, so a landing never hangs on what a random draw finds;
# the long profile explores new ones and is run by hand. Named apart from tests/e2e/test_fuzz.py.
settings.register_profile(
    "workshop-ci",
    max_examples=int(os.environ.get("FUZZ_N", 600)),
    deadline=None,
    database=None,
    print_blob=True,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "workshop-long",
    parent=settings.get_profile("workshop-ci"),
    max_examples=5000,
    derandomize=False,
)
PROFILE = "workshop-long" if os.environ.get("FUZZ_PROFILE") == "long" else "workshop-ci"
SECONDS_PER_FILE = 5.0  # a file takes milliseconds; this only catches a blow-up

# ----------------------------------------------------------------------------- the bases

# The Cochabamba workshop moved to Santiago de Chile: its second day is the one the clocks
# jump forward (September), or its first the evening they fall back (April).
CHILE = {
    "santiago-september-2026": {
        "2023-11-20": "2026-08-28",
        "2023-11-27": "2026-09-04",
        "2023-11-28": "2026-09-05",
        "2023-11-29": "2026-09-06",
        "2023-12-06": "2026-09-13",
    },
    "santiago-april-2026": {
        "2023-11-20": "2026-03-27",
        "2023-11-27": "2026-04-03",
        "2023-11-28": "2026-04-04",
        "2023-11-29": "2026-04-05",
        "2023-12-06": "2026-04-12",
    },
}


@dataclass(frozen=True)
class Spot:
    """A value of a base file: its text span, its field's path, and the key it belongs to.

    `block` tells a block mapping or list (its text ends at the start of the next line);
    `line` is where the line of its key starts, when the key begins that line.
    """

    path: tuple[str | int, ...]
    start: int
    end: int
    node: yaml.Node
    key: yaml.Node | None
    block: bool
    line: int | None


@dataclass(frozen=True)
class Base:
    """A valid workshop file and where its values are."""

    name: str
    text: str
    zone: str
    spots: tuple[Spot, ...]

    def where(self, test: Callable[[Spot], bool]) -> list[Spot]:
        """Return the spots that pass `test`."""
        return [s for s in self.spots if test(s)]


def _spots(
    text: str, node: yaml.Node, path: tuple[str | int, ...], key: yaml.Node | None
) -> list[Spot]:
    block = isinstance(node, yaml.CollectionNode) and not node.flow_style
    line = None
    if key is not None:
        line = text.rfind("\n", 0, key.start_mark.index) + 1
        line = line if text[line : key.start_mark.index].strip() == "" else None
    found = [Spot(path, node.start_mark.index, node.end_mark.index, node, key, block, line)]
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            found += _spots(text, v, (*path, k.value), k)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _spots(text, item, (*path, index), None)
    return found


def _base(name: str, text: str) -> Base:
    parse_workshop_text(text, name)  # a base that does not import would prove nothing
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert root is not None
    zone = yaml.safe_load(text)["timezone"]
    return Base(name, text, zone, tuple(_spots(text, root, (), None)[1:]))


def _bases() -> list[Base]:
    files = sorted((CONTENT_DIR / "workshops").glob("*.yaml")) + sorted(DATA.glob("**/*.yaml"))
    found = []
    for path in files:
        text = path.read_text("utf-8")
        if "timezone" in (yaml.safe_load(text) or {}):
            found.append(_base(path.name, text))
    cochabamba = (CONTENT_DIR / "workshops" / "cochabamba-2023.yaml").read_text("utf-8")
    for name, dates in CHILE.items():
        chile = cochabamba.replace("America/La_Paz", "America/Santiago")
        for before, after in dates.items():
            chile = chile.replace(before, after)
        found.append(_base(name, chile))
    return found


BASES = _bases()

# ----------------------------------------------------------------------------- the values

DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
DATE = re.compile(r"\d{4}-\d\d-\d\d")
# Local times the clocks skip (gaps) or live twice (folds), by zone.
GAPS = {
    "America/Santiago": ["2026-09-06T00:30", "2026-09-06T00:00", "2026-09-06T00:59"],
    "America/New_York": ["2026-03-08T02:30", "2026-03-08T02:00"],
}
FOLDS = {
    "America/Santiago": ["2026-04-04T23:30", "2026-04-04T23:00"],
    "America/New_York": ["2026-11-01T01:30", "2026-11-01T01:00"],
}

DATES = [
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "99999-01-01",
    "0001-01-01",
    "9999-12-31",
    "1999-12-31",
    "2101-01-01",
    "2023-11-28",
    "2024-02-29",
    "2023-02-29",
    "2023-11-28T09:00",
    "2023-11-28 09:00:00",
    "20231128",
    "2023-W48",
]
DATETIMES = [
    "2026-02-30T10:00",
    "2026-13-01T09:00",
    "2023-11-28T25:00",
    "2023-11-28T24:00",
    "2023-11-28T09:60",
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "2023-11-28T09:00-04:00",
    "2023-11-28T09:00Z",
    "2023-11-28T09:00:00.123456",
    "2023-11-28",
    "2023-11-28T9:5",
    "2023-11-29T09:15",
    "2023-11-28 08:45",
]
TIMES = ['"25:00"', '"24:00"', '"7:5"', "21:00", "18:00", '"21:00"', '"00:00"', '"12:00"']
TIMES += ['"02:30"', '"18:00:00"', '"18:00+02:00"', '"9:00"', "'08:00'", '"8 pm"', "1080"]
ZONES = ['"Mars/Olympus"', '""', "UTC+5", "../../etc/passwd", "America", "/etc/localtime"]
ZONES += ["America/New_York", "America/Santiago", "Etc/GMT+5", "UTC", "localtime", '"\\0"']
ZONES += ["right/UTC", "x" * 300, "America/La_Paz", "america/la_paz", "Europe/London"]
ODD = ["null", "~", "true", "false", "yes", "no", "on", "0", "-1", "1", "3", "12", "3.14"]
ODD += ["99999999999999999999999999", "1e309", ".nan", ".inf", "-.inf", "0x1F", "0o17", "1_000"]
ODD += ["[]", "{}", "[1, 2, 3]", "{es: x}", "{es: x, en: y}", "{es: x, en: y, fr: z}", "''"]
ODD += ['"text"', '"a\\tb"', "'\u00e9\u00e8'", '"\\u202e"', "[[]]", "[{}]", "{a: [b, {c: d}]}"]
ODD += ["https://example.org", "ftp://x", "javascript:alert(1)", '"   "', "\u0661\u0662"]
# Texts that escapes make odd: control characters, a noncharacter, surrogates, bidi.
TEXTS = ['"\\0x"', '"\\e"', '"\\x07"', '"\\uFFFE"', '"\\U0001F600"', '"\\ud83d\\ude00"']
TEXTS += ['"a\\tb"', '"\\u202eabc"', '"two\\nlines"', '""', '"' + "x" * 121 + '"', "' '"]
ODD += TEXTS
TAGS = [
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!binary '!!!'",
    "!!timestamp 2026-02-30",
    "!!timestamp 2026-03-08T02:30:00",
    "!!timestamp 2023-11-28",
    "!!int abc",
    "!!int ''",
    "!!int 12",
    "!!float x",
    "!!float ''",
    "!!bool maybe",
    "!!bool yes",
    "!!null x",
    "!!str 5",
    "!!str 2023-11-28",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!pairs [a: 1]",
    "!custom x",
    "!!map [1]",
    "!!seq x",
    "!<tag:example.com,2000:x> y",
    "*nowhere",
    "&solo value",
    "&self [*self]",
    "@reserved",
    "`reserved",
    "%x",
    "- a",
    "a: b: c",
    "[unclosed",
    '"unclosed',
    "{a: 1, a: 2}",
]
VALUES = DATES + DATETIMES + TIMES + ZONES + ODD + TAGS


def _big(kind: str, size: int) -> str:
    if kind == "string":
        return '"' + "x" * size + '"'
    if kind == "list":
        return "[" + ", ".join(f"i{n}" for n in range(size)) + "]"
    if kind == "same":
        return "[" + ", ".join(["same"] * size) + "]"
    return "[" * size + "]" * size


BIG = st.one_of(
    st.builds(_big, st.just("string"), st.sampled_from([121, 601, 5000, 100_000])),
    st.builds(_big, st.sampled_from(["list", "same"]), st.sampled_from([2, 300, 10_000])),
    st.builds(_big, st.just("nested"), st.sampled_from([5, 25, 31, 32, 33, 200, 5000])),
)


def _bomb(levels: int, merge: bool) -> str:
    """Return top-level keys whose aliases expand 9**levels times ("billion laughs")."""
    if merge:
        lines = ["b0: &b0 {k0: 1, k1: 2}"]
        lines += [
            f"b{i}: &b{i} {{<<: [{', '.join([f'*b{i - 1}'] * 9)}]}}" for i in range(1, levels)
        ]
    else:
        lines = ['b0: &b0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- mutations

# What one edit does, weighted towards those after which a file may still import.
EDITS = ["value", "typed", "typed", "text", "text", "text", "big", "delete", "delete"]
EDITS += ["unknown", "twice", "reuse", "reuse", "alias", "merge", "clock", "clock", "tab"]

Edit = tuple[int, int, str]  # replace text[start:end] with this


def _value_text(text: str, spot: Spot) -> str:
    """Return what replaces a value, ending its line when the value was a block."""
    return text + ("\n" if spot.block else "")


@st.composite
def _edit(draw: st.DrawFn, base: Base) -> tuple[str, list[Edit]]:
    """Draw one change to a base file: its kind, and the text edits that make it."""
    kind = draw(st.sampled_from(EDITS))
    return kind, _edits(draw, base, kind)


def _edits(draw: st.DrawFn, base: Base, kind: str) -> list[Edit]:
    """Draw the text edits of one change of `kind`."""
    spots = base.spots
    if kind == "text":
        # Any text where a quoted text was, written as JSON (a YAML double-quoted scalar).
        quoted = base.where(lambda s: getattr(s.node, "style", None) == '"')
        spot = draw(st.sampled_from(quoted))
        text = st.text(min_size=1, max_size=30).map(lambda t: json.dumps(t, ensure_ascii=False))
        return [(spot.start, spot.end, draw(st.one_of(text, st.sampled_from(TEXTS))))]
    if kind == "value":
        spot = draw(st.sampled_from(spots))
        return [(spot.start, spot.end, _value_text(draw(st.sampled_from(VALUES)), spot))]
    if kind == "typed":
        # The same kind of value, wrong: a date for a date, a zone for the zone.
        scalars = base.where(lambda s: isinstance(s.node, yaml.ScalarNode))
        spot = draw(st.sampled_from(scalars))
        return [(spot.start, spot.end, draw(st.sampled_from(_pool(spot))))]
    if kind == "big":
        spot = draw(st.sampled_from(spots))
        if draw(st.booleans()):
            bomb = _bomb(draw(st.sampled_from([3, 6, 10])), merge=draw(st.booleans()))
            return [(0, 0, bomb), (spot.start, spot.end, _value_text("*b2", spot))]
        return [(spot.start, spot.end, _value_text(draw(BIG), spot))]
    # Entries of block mappings, each key first on its line: whole lines to drop or copy.
    entries = base.where(lambda s: s.line is not None)
    if kind in ("delete", "twice"):
        spot = draw(st.sampled_from(entries))
        assert spot.line is not None
        end = spot.end if spot.block else (base.text.find("\n", spot.end) + 1 or len(base.text))
        lines = base.text[spot.line : end]
        return [(spot.line, end, "")] if kind == "delete" else [(spot.line, spot.line, lines)]
    if kind == "unknown":
        spot = draw(st.sampled_from(entries))
        assert spot.key is not None
        at, indent = spot.key.start_mark.index, " " * spot.key.start_mark.column
        name = draw(st.sampled_from(["notes", "zz", "Timezone", "id ", "agenda_", "<<", "1"]))
        value = draw(st.sampled_from(["1", "x", "[]", "{es: a, en: b}", "null"]))
        return [(at, at, f"{name}: {value}\n{indent}")]
    if kind == "reuse":
        # The same text in several places, written once with an anchor: still a valid file.
        groups: dict[str, list[Spot]] = {}
        for spot in spots:
            if not spot.block:
                groups.setdefault(base.text[spot.start : spot.end], []).append(spot)
        repeated = [g for g in groups.values() if len(g) > 1]
        group = draw(st.sampled_from(repeated))
        first, *others = group
        used = draw(st.lists(st.sampled_from(others), min_size=1, unique_by=lambda s: s.start))
        return [(first.start, first.start, "&same ")] + [(s.start, s.end, "*same") for s in used]
    if kind in ("alias", "merge"):
        flows = base.where(lambda s: not s.block)
        source = draw(st.sampled_from(flows))
        edits: list[Edit] = [(source.start, source.start, "&src ")]
        # Mostly after the anchor, as YAML wants; sometimes before it.
        after = draw(st.booleans()) or draw(st.booleans())
        if kind == "alias":
            targets = [s for s in spots if (s.start > source.end) == after]
            target = draw(st.sampled_from(targets or spots))
            return [*edits, (target.start, target.end, _value_text("*src", target))]
        targets = [s for s in entries if (s.start > source.end) == after]
        target = draw(st.sampled_from(targets or entries))
        assert target.key is not None
        at, indent = target.key.start_mark.index, " " * target.key.start_mark.column
        merge = draw(st.sampled_from(["*src", "[*src, *src]", "*nowhere", "[*src, 1]", "1"]))
        return [*edits, (at, at, f"<<: {merge}\n{indent}")]
    if kind == "clock":
        # A time the clocks skip or live twice: in the base's zone, or in New York's.
        times = base.where(lambda s: DATETIME.fullmatch(str(s.node.value)) is not None)
        spot = draw(st.sampled_from(times))
        zone = base.zone if base.zone in GAPS else "America/New_York"
        when = draw(st.sampled_from(GAPS[zone] + FOLDS[zone]))
        edits = [(spot.start, spot.end, when)]
        if zone != base.zone:
            zone_spot = base.where(lambda s: s.path == ("timezone",))[0]
            edits.append((zone_spot.start, zone_spot.end, zone))
        return edits
    # A tab where YAML wants spaces.
    indented = [m.start() for m in re.finditer(r"^ +", base.text, re.M)]
    at = draw(st.sampled_from(indented))
    return [(at, at + 1, "\t")]


def _pool(spot: Spot) -> list[str]:
    """Return wrong values of the kind a scalar holds: dates for a date, zones for the zone."""
    value = str(spot.node.value)
    if spot.path == ("timezone",):
        return ZONES
    if DATETIME.fullmatch(value):
        return DATETIMES
    if DATE.fullmatch(value):
        return DATES
    if re.fullmatch(r"\d\d:\d\d", value):
        return TIMES
    return ODD + TAGS


def _apply(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits from the end, so that earlier positions stay right."""
    kept: list[Edit] = []
    for edit in sorted(edits, key=lambda e: (e[0], e[1])):
        if kept and edit[0] < kept[-1][1]:
            continue
        kept.append(edit)
    for start, end, new in reversed(kept):
        text = text[:start] + new + text[end:]
    return text


WHOLE = 12 * ["none"] + [
    "bom",
    "crlf",
    "cr",
    "truncate",
    "second document",
    "empty",
    "comments only",
    "nul",
    "bad bytes",
    "utf-16",
    "latin-1",
    "garbage",
    "list",
    "scalar",
]


class Case:
    """A mutated file: its bytes and what was done to it (hypothesis shows the latter)."""

    def __init__(self, data: bytes, how: str) -> None:
        self.data = data
        self.how = how

    def __repr__(self) -> str:
        return f"Case({self.how!r}, {len(self.data)} bytes)"


@st.composite
def mutated_files(draw: st.DrawFn) -> Case:
    """Draw a valid workshop file with one to three changes, and maybe a whole-file one."""
    base = draw(st.sampled_from(BASES))
    kinds, edits = [], []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        kind, more = draw(_edit(base))
        kinds.append(kind)
        edits += more
    text = _apply(base.text, edits)
    whole = draw(st.sampled_from(WHOLE))
    shown = [(start, end, new[:80]) for start, end, new in edits]
    how = f"{base.name}: {'+'.join(kinds)} {shown}, then {whole}"
    if whole == "bom":
        text = "\ufeff" + text
    elif whole == "crlf":
        text = text.replace("\n", "\r\n")
    elif whole == "cr":
        text = text.replace("\n", "\r")
    elif whole == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif whole == "second document":
        text += draw(st.sampled_from(["\n---\nid: x\n", "---\n", "\n...\n", "\n--- |\n x\n"]))
    elif whole == "empty":
        text = draw(st.sampled_from(["", "\n", "   ", "---\n", "# only a comment\n"]))
    elif whole == "comments only":
        text = "\n".join("# " + line for line in text.splitlines())
    elif whole == "nul":
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from(["\x00", "\x07", "\x1b", "\ufffe", "\ud800"]))
            + text[at:]
        )
    elif whole == "list":
        text = "- " + text.replace("\n", "\n  ")
    elif whole == "scalar":
        text = draw(st.sampled_from(["workshop", "42", "null", "|\n  text", "!!binary aGk="]))
    elif whole == "garbage":
        text = draw(st.text(max_size=200))
    data = text.encode("utf-8", "surrogatepass")
    if whole == "bad bytes":
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80"]))
        data = data[:at] + junk + data[at:]
    elif whole == "utf-16":
        data = text.encode("utf-16", "surrogatepass")
    elif whole == "latin-1":
        data = text.encode("latin-1", "replace")
    return Case(data, how)


# ----------------------------------------------------------------------------- the property

# A field is a path of plain names and [indexes]; an odd key is quoted, as Python quotes it.
FIELD = r"""(?:[\w.\[\]]|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")+"""
LINE = re.compile(rf"line (\d+)(?:, column \d+)?(?:, ({FIELD}))?: \S")
WHOLE_FILE = {"the file is empty (or holds only comments)"}


@dataclass
class Tally:
    """What the fuzzing saw."""

    files: int = 0
    imported: int = 0
    refused: int = 0
    not_utf8: int = 0
    slowest: float = 0.0
    problems: dict[str, int] = field(default_factory=dict)


def _upload(data: bytes) -> WorkshopFile | list[str] | None:
    """Read bytes as a document sent in chat: a workshop, its problems, or None (not UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # import_document answers with organizer.not_utf8
    try:
        return parse_workshop_text(text, "taller.yaml")
    except ContentError as exc:
        return exc.problems


def _command_line(data: bytes, path: Path) -> WorkshopFile | list[str]:
    """Read bytes as `python -m bot workshop import PATH` does."""
    path.write_bytes(data)
    try:
        return load_workshop_file(path)
    except ContentError as exc:
        return exc.problems


def _check_problems(problems: list[str], data: bytes) -> None:
    """Check that every problem names a line of the file, or is about the whole file."""
    assert problems, "a refusal with no problem"
    lines = max(1, len(data.decode("utf-8", "replace").splitlines()))
    for problem in problems:
        if problem in WHOLE_FILE:
            continue
        match = LINE.match(problem)
        assert match is not None, problem
        assert 1 <= int(match[1]) <= lines, (problem, lines)
        # Not the fallback that names an exception ("not readable as YAML (ValueError)").
        assert re.search(r"[a-z]Error\b|Traceback", problem) is None, problem
        assert len(problem) < 400, problem


def _check_import(spec: WorkshopFile) -> None:
    """Check that an imported workshop is on the clock, storable, and plans its schedule."""
    zone = spec.zone
    for path, value in spec.local_times():
        assert value.tzinfo is None, path
        assert EARLIEST_YEAR <= value.year <= LATEST_YEAR, path
        assert skipped(value, zone) is None, (path, value)
    # Stored as the storage layers do; PostgreSQL's JSONB refuses "\u0000".
    as_json = json.dumps(spec.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
    as_json.encode("utf-8")
    assert "\\u0000" not in as_json
    stored = parse_model(WorkshopFile, json.loads(as_json), "stored")
    assert stored == spec
    for item in plan(stored, has_evaluation=True):
        assert item.due_at.tzinfo is not None


def _read(case: Case, folder: Path, tally: Tally) -> None:
    """Read a mutated file both ways, check the answers, and count them."""
    started = time.perf_counter()
    uploaded = _upload(case.data)
    from_disk = _command_line(case.data, folder / "taller.yaml")
    seconds = time.perf_counter() - started
    tally.files += 1
    tally.slowest = max(tally.slowest, seconds)
    assert seconds < SECONDS_PER_FILE, f"{seconds:.1f} s to read"
    if isinstance(uploaded, WorkshopFile):
        assert from_disk == uploaded
        _check_import(uploaded)
        tally.imported += 1
        return
    assert isinstance(from_disk, list), "the command line imported what the upload refused"
    _check_problems(from_disk, case.data)
    if uploaded is None:
        tally.not_utf8 += 1
        assert "not UTF-8" in from_disk[0]
        return
    assert uploaded == from_disk
    _check_problems(uploaded, case.data)
    tally.refused += 1
    for problem in uploaded:
        words = re.sub(r"line \d+, |line \d+: |'.*?'|\d+", "", problem)[:40]
        tally.problems[words] = tally.problems.get(words, 0) + 1


def test_mutated_workshop_files_import_or_name_a_line(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    tally = Tally()

    @settings(settings.get_profile(PROFILE))
    @given(mutated_files())
    def read(case: Case) -> None:
        _read(case, folder, tally)

    started = time.perf_counter()
    read()
    seconds = time.perf_counter() - started
    print(
        f"\nworkshop fuzz ({PROFILE}): {tally.files} files, {tally.imported} imported,"
        f" {tally.refused} refused, {tally.not_utf8} not UTF-8, 0 crashed, in {seconds:.1f} s"
        f" (slowest {tally.slowest:.2f} s); most frequent problems:"
    )
    for words, count in sorted(tally.problems.items(), key=lambda item: -item[1])[:15]:
        print(f"  {count:4} {words}")
    # A fuzzer that only ever refuses (or only imports) has stopped exploring.
    assert tally.files >= settings.get_profile(PROFILE).max_examples
    assert tally.imported >= tally.files // 10
    assert tally.refused >= tally.files // 3
    assert tally.not_utf8 > 0


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="libyaml is not installed")
def test_libyaml_and_pyyaml_read_mutated_files_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    verdicts: list[tuple[bool, bool]] = []

    def verdict(text: str) -> WorkshopFile | None:
        try:
            return parse_workshop_text(text, "taller.yaml")
        except ContentError:
            return None

    @settings(settings.get_profile(PROFILE), max_examples=150)
    @given(mutated_files())
    def compare(case: Case) -> None:
        try:
            text = case.data.decode("utf-8")
        except UnicodeDecodeError:
            return
        with_libyaml = verdict(text)
        with monkeypatch.context() as patch:
            patch.setattr(bot.content, "USE_LIBYAML", False)
            started = time.perf_counter()
            without = verdict(text)
            assert time.perf_counter() - started < SECONDS_PER_FILE
        assert with_libyaml == without, case.how
        verdicts.append((with_libyaml is not None, without is not None))

    compare()
    assert any(imported for imported, _ in verdicts)
    assert not all(imported for imported, _ in verdicts)
