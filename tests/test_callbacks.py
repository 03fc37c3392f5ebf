"""Callback data: compact, versioned, never over 64 bytes."""

from __future__ import annotations

import pytest

from bot.flows.callbacks import MAX_BYTES, Kind, pack, unpack


def test_roundtrip() -> None:
    data = pack(Kind.ANSWER, 12, 3, "lea_1", "5")
    cb = unpack(data)
    assert cb is not None
    assert cb.kind is Kind.ANSWER
    assert cb.int_field(0) == 12 and cb.str_field(2) == "lea_1" and cb.str_field(3) == "5"
    assert cb.int_field(9) is None and cb.str_field(9) is None


def test_largest_answer_fits() -> None:
    # Content ids are at most 16 characters, option codes 6, versions 4 digits.
    data = pack(Kind.ANSWER, 10**12, 9999, "q" * 16, "c" * 6)
    assert len(data.encode()) <= MAX_BYTES


@pytest.mark.parametrize("raw", [None, "", "zz", "2qa:1", "1zz:1", "x" * 65, "1qa"])
def test_foreign_data_is_rejected_or_harmless(raw: str | None) -> None:
    cb = unpack(raw)
    assert cb is None or cb.kind is Kind.ANSWER


def test_oversize_and_separator_are_refused() -> None:
    with pytest.raises(ValueError):
        pack(Kind.ANSWER, "x" * 70)
    with pytest.raises(ValueError):
        pack(Kind.ANSWER, "a:b")
