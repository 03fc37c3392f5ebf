"""Bot API calls from replies: what is tried again, and what never is."""

from __future__ import annotations

import httpx
import pytest
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot import output


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "FAILURE_BACKOFF", (0.0, 0.0, 0.0, 0.0))


def _failing(errors: list[Exception]) -> tuple[list[int], object]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return calls, call


def _refused() -> NetworkError:
    error = NetworkError("httpx.ConnectError: refused")
    error.__cause__ = httpx.ConnectError("refused")
    return error


async def test_a_call_that_certainly_failed_is_tried_again() -> None:
    calls, call = _failing([NetworkError("Bad Gateway"), _refused()])
    assert await output.with_retry(call) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 3


async def test_a_call_whose_outcome_is_unknown_is_never_repeated() -> None:
    timed_out = TimedOut()
    timed_out.__cause__ = httpx.ReadTimeout("no answer")
    calls, call = _failing([timed_out])
    with pytest.raises(TimedOut):
        await output.with_retry(call)  # type: ignore[arg-type]
    assert len(calls) == 1


async def test_failures_stop_being_retried_after_a_while() -> None:
    calls, call = _failing([NetworkError("Bad Gateway") for _ in range(10)])
    with pytest.raises(NetworkError):
        await output.with_retry(call)  # type: ignore[arg-type]
    assert len(calls) == len(output.FAILURE_BACKOFF) + 1


async def test_flood_control_is_still_waited_out() -> None:
    calls, call = _failing([RetryAfter(0)])
    assert await output.with_retry(call) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 2


async def test_telegrams_definite_no_is_not_asked_again() -> None:
    # A button answered twice, a message that cannot be edited: a 400 stays a 400.
    calls, call = _failing([BadRequest("Query is too old and response timeout expired")])
    with pytest.raises(BadRequest):
        await output.with_retry(call)  # type: ignore[arg-type]
    assert len(calls) == 1
