"""Golden transcripts: a small rehearsal's chats and figures must match tests/golden/.

A difference fails with a unified diff and the command that updates the goldens; see
tests/golden/README.md for what is normalized and why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import SimulatedClock
from bot.rehearsal.transcript import Recorder, render_chat
from tests import golden

KEPT = {"README.md", "__init__.py", "__main__.py", "__pycache__"}
# The rehearsal runs in the first test's setup: 25 s on a quiet machine (six months of
# simulated time), but a shared one under load took several times that; running out of
# time there would be flakiness, not a finding.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> golden.Outcome:
    return golden.run(tmp_path_factory.mktemp("golden") / "out")


def test_the_golden_rehearsal_runs_clean(outcome: golden.Outcome) -> None:
    assert golden.problems(outcome) == []


@pytest.mark.parametrize("name", golden.NAMES)
def test_matches_its_golden(outcome: golden.Outcome, name: str) -> None:
    if name not in outcome.outputs:
        pytest.fail(f"the rehearsal wrote nothing for {name}: {outcome.missing}", pytrace=False)
    diff = golden.difference(name, outcome.outputs[name])
    if diff is not None:
        pytest.fail(diff, pytrace=False)


def test_the_goldens_still_play_their_parts(outcome: golden.Outcome) -> None:
    texts = outcome.outputs
    assert "(Telegram language `es`)" in texts["participant-es.md"]
    assert "(Telegram language `en`)" in texts["participant-en.md"]
    assert "/report" in texts["organizer.md"] and "taps `[" in texts["organizer.md"]
    # The check-ins at 1, 3 and 6 months after the workshop, and a reminder a week later.
    checkin = texts["participant-checkin.md"]
    for day in ("29 December 2023", "5 January 2024", "29 February 2024", "29 May 2024"):
        assert day in checkin, day
    assert "Falta presupuesto para el servidor" in checkin
    # A digest on the first of each month, from January to June.
    officer = texts["association-officer.md"]
    for month in ("January", "February", "March", "April", "May", "June"):
        assert f"1 {month} 2024" in officer, month
    assert officer.count("Resumen mensual") == 6


def test_every_file_in_the_golden_folder_is_a_golden() -> None:
    present = {p.name for p in golden.FOLDER.iterdir()} - KEPT
    assert present == set(golden.NAMES)


def test_tokens_become_numbered_placeholders_alike_everywhere() -> None:
    join, invite = "AbC_d-123456789xyz", "Zz9_-Qq8Ww7Ee6R"
    texts = [
        f"> https://t.me/bot?start=org-{invite}\n> https://t.me/bot?start={join}",
        f"**12:00** 👤 **Ana:** /start {join}\n> your code: {join}; /start dgca",
    ]
    assert golden.normalize_tokens(texts) == [
        "> https://t.me/bot?start=org-<token-1>\n> https://t.me/bot?start=<token-2>",
        "**12:00** 👤 **Ana:** /start <token-2>\n> your code: <token-2>; /start dgca",
    ]


def test_summary_drops_only_the_wall_clock_figures() -> None:
    written = (
        '{"joined": 4, "wall_seconds": 12.5, "phase_seconds": {"join": 1.0}, "bytes_written": 7}'
    )
    assert golden.stable_summary(written) == '{\n  "joined": 4\n}\n'


def test_a_difference_reads_as_a_diff_with_the_update_command(tmp_path: Path) -> None:
    (tmp_path / "chat.md").write_text("# Chat\n\nhello\n", "utf-8")
    assert golden.difference("chat.md", "# Chat\n\nhello\n", tmp_path) is None
    diff = golden.difference("chat.md", "# Chat\n\nhola\n", tmp_path)
    assert diff is not None
    assert "-hello\n+hola" in diff and golden.UPDATE_COMMAND in diff
    many = "".join(f"line {i}\n" for i in range(200))
    long_diff = golden.difference("chat.md", many, tmp_path)
    assert long_diff is not None and "more diff lines" in long_diff
    missing = golden.difference("absent.md", "x", tmp_path)
    assert missing is not None and golden.UPDATE_COMMAND in missing


def _keyboard_message(message_id: int, text: str) -> dict[str, object]:
    button = {"text": "Sí", "callback_data": "q:dgca:3:yes"}
    return {
        "chat": {"id": 1},
        "message_id": message_id,
        "text": text,
        "reply_markup": {"inline_keyboard": [[button]]},
    }


@pytest.mark.parametrize("stable", [False, True])
def test_transcripts_show_button_labels_and_place_pop_ups(stable: bool) -> None:
    recorder = Recorder(SimulatedClock(datetime(2023, 11, 20, 14, tzinfo=UTC)), stable=stable)
    recorder.bot_call("sendMessage", {}, _keyboard_message(1, "¿Listo?"))
    recorder.tapped(1, 1, "Sí", [["Sí"]], "q1", "Ana")
    # The reply comes in before the pop-up: the bot answers the tap beside its reply.
    recorder.bot_call("editMessageText", {}, _keyboard_message(1, "Guardado"))
    recorder.bot_call("answerCallbackQuery", {"callback_query_id": "q1", "text": "✓"}, True)
    actions = [e.action for e in recorder.of_chat(1)]
    if stable:
        assert actions == ["send", "tap", "toast", "edit"]
    else:
        assert actions == ["send", "tap", "edit", "toast"]
    text = render_chat("Ana", [], recorder.of_chat(1), ZoneInfo("America/La_Paz"), lambda _: "")
    assert "`[Sí]`" in text and "q:dgca" not in text
