"""A Telegram Bot API test double: an aiohttp server plus simulated users.

Build the real PTB Application against it with
``base_url=f"{double.url}/bot"`` and ``base_file_url=f"{double.url}/file/bot"``.
Only the standard library and aiohttp are used, so the package also serves the
offline rehearsal command.
"""

from .actors import SimChannel, SimGroup, SimUser
from .formatting import EntityParseError, parse_html, parse_markdown, parse_markdown_v2
from .media import StoredFile, sample_png
from .models import (
    ApiError,
    CallbackAnswer,
    ChatMessage,
    RateLimits,
    Request,
    Stats,
)
from .server import BotApiDouble, ChatState, WebhookDelivery
from .spec import BotApiSpec, UploadedFile, load_spec

__all__ = [
    "ApiError",
    "BotApiDouble",
    "BotApiSpec",
    "CallbackAnswer",
    "ChatMessage",
    "ChatState",
    "EntityParseError",
    "RateLimits",
    "Request",
    "SimChannel",
    "SimGroup",
    "SimUser",
    "Stats",
    "StoredFile",
    "UploadedFile",
    "WebhookDelivery",
    "load_spec",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "sample_png",
]
