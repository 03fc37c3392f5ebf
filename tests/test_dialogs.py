"""Dialogs: one typed model per waiting state, each with its handlers."""

from __future__ import annotations

from typing import ClassVar

import pytest

from bot.flows import dialogs, router
from bot.flows.broadcast import BroadcastMessage
from bot.flows.dialogs import Waiting
from bot.flows.questionnaire import QuestionMulti, QuestionText
from storage import Dialog, DialogState
from storage.models import RETIRED_DIALOG_STATES


def test_every_waiting_state_has_a_model_and_handlers() -> None:
    assert router.WAITING_FEATURES
    models = dialogs.states()
    assert set(models) == set(DialogState) - RETIRED_DIALOG_STATES
    assert set(models.values()) <= dialogs.handled()


def test_a_stored_row_decodes_into_its_model() -> None:
    row = Dialog(
        1, DialogState.QUESTION_MULTI, {"response_id": 4, "question_id": "q", "selected": ["a"]}
    )
    waiting = dialogs.decode(row)
    assert waiting == QuestionMulti(response_id=4, question_id="q", selected=["a"])
    assert dialogs.as_(row, QuestionMulti) == waiting
    assert dialogs.as_(row, QuestionText) is None


@pytest.mark.parametrize(
    "data",
    [
        {},  # written by an older release, or damaged
        {"response_id": "four", "question_id": "q"},
        {"response_id": 4},
    ],
)
def test_an_unreadable_row_is_no_dialog(data: dict[str, object]) -> None:
    assert dialogs.decode(Dialog(1, DialogState.QUESTION_TEXT, data)) is None
    assert dialogs.decode(None) is None


def test_data_round_trips_through_json() -> None:
    waiting = BroadcastMessage(broadcast_id=7)
    assert dialogs.decode(Dialog(1, waiting.state, waiting.data())) == waiting


def test_a_state_has_one_owner() -> None:
    with pytest.raises(TypeError, match="QuestionText"):

        class Twin(Waiting):
            state: ClassVar[DialogState] = DialogState.QUESTION_TEXT


def test_a_model_has_one_set_of_handlers() -> None:
    async def handler(ctx: object, waiting: object, text: str) -> list[object]:
        return []

    with pytest.raises(TypeError, match="already"):
        dialogs.handles(QuestionText, handler)  # type: ignore[arg-type]
