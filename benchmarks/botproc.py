"""A bot process for the benchmarks: the production bot, or a bare PTB bot, with timing.

Run by the benchmarks, not by hand::

    python -m benchmarks.botproc bot  --stats FILE   # bot.app.build_application
    python -m benchmarks.botproc bare --stats FILE   # no storage, no logic

Both read the same environment as ``python -m bot run`` (TELEGRAM_BOT_TOKEN,
TELEGRAM_API_URL, DATABASE_URL, MAX_CONCURRENT_UPDATES...), poll with ``run_polling``
and stop on SIGTERM. Both process updates with the production ``OrderedUpdateProcessor``
(``MAX_CONCURRENT_UPDATES`` work slots) and the same connection pool size.

The bare bot answers a tap on a statement exactly as the real one does, with the same
two Bot API calls and payloads of the same size: answerCallbackQuery, and editMessageText
turning the tapped message into the next statement with its six option buttons and Back.
/dgca sends the first statement.

Timing (no production code changes): ``ExtBot.get_updates`` is wrapped to note when each
update arrives in the process, and the update processor's ``do_process_update`` to note
when its handler has finished (its last Bot API call answered). The difference, for taps
(callback queries), is written to FILE as JSON on shutdown.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import signal
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
)

from bot.app import ALLOWED_UPDATES, POOL_TIMEOUT, build_application, connection_pool_size
from bot.cli import load_all, load_settings
from bot.content import Content
from bot.flows.callbacks import Answer, Back
from bot.flows.questionnaire import progress_bar
from bot.processor import OrderedUpdateProcessor
from bot.settings import Settings

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
AnyApp = Application[Any, Any, Any, Any, Any, Any]


class Timing:
    """Arrival and completion times of the updates this process handles."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.latencies: list[float] = []
        self.other = 0

    def install(self, app: AnyApp) -> None:
        timing = self
        original = ExtBot.get_updates

        async def timed_get_updates(self: ExtBot[Any], *args: Any, **kwargs: Any) -> Any:
            updates = await original(self, *args, **kwargs)
            now = time.perf_counter()
            for update in updates:
                timing.arrivals[update.update_id] = now
            return updates

        ExtBot.get_updates = timed_get_updates  # type: ignore[method-assign]
        processor = app.update_processor
        inner = processor.do_process_update

        async def timed_process(update: object, coroutine: Awaitable[Any]) -> None:
            try:
                await inner(update, coroutine)
            finally:
                if isinstance(update, Update):
                    arrived = timing.arrivals.pop(update.update_id, None)
                    if arrived is not None and update.callback_query is not None:
                        timing.latencies.append(time.perf_counter() - arrived)
                    else:
                        timing.other += 1

        processor.do_process_update = timed_process  # type: ignore[method-assign]

    def write(self, path: Path) -> None:
        path.write_text(
            json.dumps({"latencies": self.latencies, "other_updates": self.other}),
            encoding="utf-8",
        )


# ---------------------------------------------------------------------- the bare bot


class Statements:
    """The DGCA statements' texts and buttons, prepared once (no storage, no logic)."""

    def __init__(self, content: Content) -> None:
        q = content.questionnaire("dgca")
        self.slots = list(q.slots())
        self.total = len(self.slots)
        scale = q.scales[self.slots[0].question.scale or ""]
        self.options = [(o.code, o.label.get("es")) for o in scale.all_options()]
        self.titles = {s.id: s.title.get("es") for s in q.sections}

    def header(self, n: int) -> str:
        slot = self.slots[n % self.total]
        position = n % self.total + 1
        lines = [f"<b>{self.titles[slot.section.id]} · {position}/{self.total}</b>"]
        lines.append(progress_bar(position - 1, self.total))
        if slot.subsection is not None:
            lines.append(f"<i>{slot.subsection.title.get('es')}</i>")
        lines += ["", slot.question.text.get("es")]
        return "\n".join(lines)

    def keyboard(self, n: int) -> InlineKeyboardMarkup:
        qid = self.slots[n % self.total].question.id
        rows = [
            [InlineKeyboardButton(label, callback_data=Answer(1, 1, qid, c).pack())]
            for c, label in self.options
        ]
        if n % self.total:
            rows.append([InlineKeyboardButton("‹ Atrás", callback_data=Back(1, 1, qid).pack())])
        return InlineKeyboardMarkup(rows)


def build_bare(settings: Settings, statements: Statements) -> AnyApp:
    """Build a PTB bot that makes the real bot's calls per answer, and nothing else."""
    app: AnyApp = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .concurrent_updates(OrderedUpdateProcessor(settings.max_concurrent_updates))
        .connection_pool_size(connection_pool_size(settings))
        .pool_timeout(POOL_TIMEOUT)
        .build()
    )
    index = {s.question.id: i for i, s in enumerate(statements.slots)}

    async def first(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id,
            statements.header(0),
            parse_mode=ParseMode.HTML,
            reply_markup=statements.keyboard(0),
            link_preview_options=NO_PREVIEW,
        )

    async def tap(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None and query.data is not None
        *_, qid, _code = query.data.split(":")
        n = index[qid]
        await query.answer()
        await context.bot.edit_message_text(
            statements.header(n + 1),
            chat_id=query.message.chat.id,
            message_id=query.message.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=statements.keyboard(n + 1),
            link_preview_options=NO_PREVIEW,
        )

    app.add_handler(CommandHandler("dgca", first))
    app.add_handler(CallbackQueryHandler(tap))
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.botproc")
    parser.add_argument("kind", choices=["bot", "bare"])
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write cProfile statistics here")
    args = parser.parse_args(argv)
    settings = load_settings()
    content, i18n = load_all(settings.content_dir)
    if args.kind == "bot":
        app: AnyApp = build_application(settings, content, i18n)
    else:
        app = build_bare(settings, Statements(content))
    timing = Timing()
    timing.install(app)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    app.run_polling(
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
        stop_signals=(signal.SIGINT, signal.SIGTERM),
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    timing.write(args.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
