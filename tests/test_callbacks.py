"""Callback data: typed, versioned, never over 64 bytes, and strict about what it reads."""

from __future__ import annotations

import types
import typing
from typing import Annotated

import pytest

from bot.flows import callbacks as cb
from bot.flows.callbacks import (
    CODEC_VERSION,
    MAX_BYTES,
    Answer,
    CallbackData,
    Chars,
    Forget,
    OpenDgca,
    OpenEvaluation,
    OpenMenu,
    PlanNew,
    ProgressView,
    Report,
    UpdateStart,
    ViewerRemove,
    parse,
    registered,
)


def _widest(cls: type[CallbackData]) -> CallbackData:
    """Build an instance of `cls` with every field at its longest value."""
    values: dict[str, object] = {}
    for f in cls._fields:
        candidates = (10**f.width - 1, "x" * f.width, True, *_literals(cls, f.name))
        for candidate in candidates:
            try:
                text = f.write(candidate)
            except ValueError:
                continue
            if len(text) == f.width:
                values[f.name] = candidate
                break
        else:
            raise AssertionError(f"no value fills {cls.__name__}.{f.name}")
    return cls(**values)


def _literals(cls: type[CallbackData], name: str) -> list[str]:
    hint = typing.get_type_hints(cls, include_extras=True)[name]
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    for member in typing.get_args(hint) if union else (hint,):
        if typing.get_origin(member) is typing.Literal:
            return sorted(map(str, typing.get_args(member)), key=len, reverse=True)
    return []


def test_roundtrip_keeps_every_field_and_its_type() -> None:
    tap = Answer(response=12, version=3, question="lea_1", option="5")
    data = tap.pack()
    assert data == f"{CODEC_VERSION}qa:12:3:lea_1:5"
    back = parse(data)
    assert back == tap and isinstance(back, Answer)
    assert back.response == 12 and back.question == "lea_1"


def test_optional_fields_travel_as_empty() -> None:
    assert parse(Forget().pack()) == Forget(confirm=None)
    assert parse(Forget(confirm=False).pack()) == Forget(confirm=False)
    assert parse(UpdateStart(plan=4).pack()) == UpdateStart(4, None)
    assert parse(Report(workshop=1, what="inst").pack()) == Report(1, "inst", None, None)


@pytest.mark.parametrize("cls", registered(), ids=lambda c: c.__name__)
def test_every_kind_fits_telegram_at_its_widest(cls: type[CallbackData]) -> None:
    widest = _widest(cls)
    data = widest.pack()
    assert len(data.encode()) <= cls.max_bytes() <= MAX_BYTES
    assert parse(data) == widest


def test_prefixes_are_unique_and_kinds_are_many() -> None:
    prefixes = [c.prefix for c in registered()]
    assert len(prefixes) == len(set(prefixes))
    assert len(prefixes) >= 70


def test_a_kind_that_could_overflow_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="over 64"):

        class TooWide(CallbackData, prefix="zzz"):
            a: Annotated[str, Chars(30)]
            b: Annotated[str, Chars(30)]

    assert "zzz" not in {c.prefix for c in registered()}


def test_a_field_without_bounds_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="Digits"):

        class Unbounded(CallbackData, prefix="zzy"):
            a: int


def test_a_taken_prefix_is_refused() -> None:
    with pytest.raises(TypeError, match="OpenMenu"):

        class Twin(CallbackData, prefix="mn"):
            pass


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "zz",
        "2qa",  # no fields
        "2qa:1:2:lea_1",  # one field missing
        "2qa:1:2:lea_1:5:6",  # one field too many
        "1qa:1:2:lea_1:5",  # an older release's button
        "3qa:1:2:lea_1:5",  # a newer one
        "2zz:1",  # an unknown kind
        "2qa:-1:2:lea_1:5",  # negative ids are never produced
        "2qa:1234567890123:2:lea_1:5",  # 13 digits: past the declared range
        "2qa:1:2:lea_1:1234567",  # a longer option code than content allows
        "2qa:1:2:lea 1:5",  # a space is not produced
        "2qa:1:2::5",  # an empty required field
        "2jc:1:2",  # a bool is 0 or 1
        "2ow:1:zz",  # not one of the Literal's values
        "2qa:١:2:lea_1:5",  # Arabic-Indic digit: isdigit() but not ASCII
        "x" * 65,
    ],
)
def test_foreign_or_forged_data_is_refused(raw: str | None) -> None:
    assert parse(raw) is None


def test_packing_a_value_out_of_range_fails_loudly() -> None:
    with pytest.raises(ValueError):
        Answer(response=10**12, version=1, question="q", option="1").pack()
    with pytest.raises(ValueError):
        Answer(response=1, version=1, question="a:b", option="1").pack()
    with pytest.raises(ValueError):
        ViewerRemove(association=1, viewer=-5).pack()
    with pytest.raises(ValueError):
        Report(workshop=1, what="nope").pack()  # type: ignore[arg-type]


def test_unpack_checks_the_class() -> None:
    data = Answer(1, 1, "q", "1").pack()
    assert Answer.unpack(data) == Answer(1, 1, "q", "1")
    assert UpdateStart.unpack(data) is None


def test_pattern_matches_only_its_kinds() -> None:
    rx = cb.pattern([Answer, OpenMenu])
    assert rx.match(Answer(1, 1, "q", "1").pack())
    assert rx.match(OpenMenu().pack())
    assert not rx.match(Report(1, "dgca").pack())
    assert not rx.match("1qa:1:1:q:1")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("1od:12", OpenDgca(12)),
        ("1oe:12", OpenEvaluation(12)),
        ("1mn", OpenMenu()),
        ("1pl:new:7", PlanNew(7)),
        ("1pl:new:0", PlanNew(None)),
        ("1pu:st:4", UpdateStart(4, None)),
        ("1pu:st:4:0", UpdateStart(4, None)),
        ("1pu:st:4:9", UpdateStart(4, 9)),
        ("1pg:v:a3", ProgressView("a", 3)),
        ("1pg:v:w5", ProgressView("w", 5)),
    ],
)
def test_long_lived_buttons_of_the_previous_release_still_work(old: str, new: object) -> None:
    assert parse(old) == new
    assert cb.pattern([type(new)]).match(old)  # type: ignore[list-item]


@pytest.mark.parametrize(
    "old",
    ["1pl:o:3", "1pu:s:4:5:dn", "1pg:x:a3", "1pg:v:z3", "1od:1234567890123", "1od", "1ws:3:mn"],
)
def test_other_buttons_of_the_previous_release_are_refused(old: str) -> None:
    assert parse(old) is None
