"""Check text, entities and reply markup from the bot the way Telegram does."""

from __future__ import annotations

import copy
import re
from typing import Any

from .formatting import (
    EntityParseError,
    UnsupportedParseMode,
    detect_entities,
    parse_text,
    trim,
    utf16_len,
)
from .models import ApiError
from .state import DoubleState

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_URL_RE = re.compile(r"^(https?://[^\s/$.?#][^\s]*|tg://\S+)$", re.IGNORECASE)


class ChecksMixin(DoubleState):
    """Parse formatted text and validate entities and keyboards like Telegram."""

    def _format(
        self,
        raw_text: str,
        parse_mode: str | None,
        explicit: list[dict[str, Any]] | None,
        *,
        limit: int,
        too_long: str,
        empty: str | None,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Parse text like Telegram: markup, trimming, length limits, auto entities."""
        try:
            text, entities = parse_text(raw_text, parse_mode, strict_html=self.strict_html)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        except UnsupportedParseMode:
            raise ApiError(
                400,
                "Bad Request: unsupported parse_mode",
                violation=f"unsupported parse_mode {parse_mode!r}",
            ) from None
        if not parse_mode and explicit:
            entities = self._check_entities(text, explicit)
        text, entities = trim(text, entities)
        if not text and empty is not None:
            raise ApiError(400, f"Bad Request: {empty}")
        if len(text) > limit:
            raise ApiError(400, f"Bad Request: {too_long}")
        return text, detect_entities(text, entities)

    def _caption(self, params: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
        raw = params.get("caption")
        if raw is None:
            return None, []
        caption, entities = self._format(
            raw,
            params.get("parse_mode"),
            params.get("caption_entities"),
            limit=CAPTION_LIMIT,
            too_long="message caption is too long",
            empty=None,
        )
        return (caption or None), (entities if caption else [])

    def _check_entities(self, text: str, entities: list[Any]) -> list[dict[str, Any]]:
        total = utf16_len(text)
        out: list[dict[str, Any]] = []
        for entity in entities:
            if not isinstance(entity, dict) or not isinstance(entity.get("offset"), int):
                raise ApiError(400, "Bad Request: can't parse entities JSON object")
            offset, length = entity["offset"], entity.get("length", 0)
            if offset < 0 or not isinstance(length, int) or length <= 0:
                continue
            if offset + length > total:
                length = total - offset
                if length <= 0:
                    continue
            out.append({**entity, "offset": offset, "length": length})
        return sorted(out, key=lambda e: (e["offset"], -e["length"]))

    def _check_markup(self, markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
        """Validate reply_markup the way Telegram does and return it normalised."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "InlineKeyboardMarkup must be an Array of Arrays",
                )
            for row in rows:
                for button in row:
                    self._check_inline_button(button)
            return {"inline_keyboard": [[dict(b) for b in row] for row in rows]}
        if inline_only:
            raise ApiError(400, "Bad Request: inline keyboard expected")
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(400, 'Bad Request: field "keyboard" must be an Array of Arrays')
            for row in rows:
                for button in row:
                    text = (
                        button
                        if isinstance(button, str)
                        else (button.get("text") if isinstance(button, dict) else None)
                    )
                    if not isinstance(text, str) or not text:
                        raise ApiError(400, "Bad Request: keyboard button text can't be empty")
            return copy.deepcopy(markup)
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return dict(markup)
        raise ApiError(
            400,
            "Bad Request: can't parse reply keyboard markup JSON object",
            violation=f"reply_markup of no known kind: {markup!r}",
        )

    def _check_inline_button(self, button: Any) -> None:
        if not isinstance(button, dict):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: Object expected")
        text = button.get("text")
        if not isinstance(text, str):
            raise ApiError(
                400,
                'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type '
                "String",
            )
        if not text.strip():
            raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
        actions = [a for a in _INLINE_ACTIONS if a in button]
        if not actions:
            raise ApiError(
                400,
                "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in "
                "the inline keyboard",
            )
        if len(actions) > 1:
            # Telegram silently keeps the first one; the documentation demands exactly one.
            self._violate(f"inline button {text!r} has several actions: {actions}")
        if "callback_data" in button:
            data = button["callback_data"]
            size = len(data.encode("utf-8")) if isinstance(data, str) else 0
            if not 1 <= size <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not _URL_RE.match(url):
                raise ApiError(
                    400,
                    f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL",
                )
