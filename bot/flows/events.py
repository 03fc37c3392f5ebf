"""What a flow asks the host to do, as data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Button:
    """An inline button: callback data or a URL."""

    text: str
    data: str | None = None
    url: str | None = None


Keyboard = list[list[Button]]


@dataclass(frozen=True)
class Send:
    """Send an HTML message, with optional inline buttons."""

    text: str
    buttons: Keyboard | None = None


@dataclass(frozen=True)
class Edit:
    """Replace the text of a message the bot sent; no buttons removes them."""

    message_id: int
    text: str
    buttons: Keyboard | None = None
    # Say it again as a new message when the old one is gone; off for a message being retired.
    resend: bool = True


@dataclass(frozen=True)
class Notice:
    """Answer the tapped button with a short notice (or nothing)."""

    text: str | None = None
    alert: bool = False


@dataclass(frozen=True)
class SendPhoto:
    """Send a picture that `render` draws; the host runs it off the event loop."""

    render: Callable[[], bytes]
    caption: str
    buttons: Keyboard | None = None
    # Drawn in the worker process when the host has one, so that neither matplotlib's memory
    # nor its garbage collection lands in the bot's process; `render` must then pickle.
    separate_process: bool = False


@dataclass(frozen=True)
class SendDocument:
    """Send a file that `build` produces; the host runs it off the event loop."""

    filename: str
    build: Callable[[], bytes]
    caption: str = ""
    # A build that allocates heavily (a workbook) runs in a worker process when the host has
    # one, so its garbage collection cannot pause the event loop; `build` must then pickle.
    separate_process: bool = False


@dataclass(frozen=True)
class SendMedia:
    """Send a photo or document Telegram already has, by its file id."""

    kind: str
    file_id: str
    caption: str
    buttons: Keyboard | None = None


@dataclass(frozen=True)
class Deliver:
    """Wake the outbox sender: new messages were queued."""


@dataclass(frozen=True)
class Rearm:
    """Re-read the schedule: a workshop's automatic messages changed."""


@dataclass(frozen=True)
class SetCommands:
    """Show this chat the command menu in `lang` (with organizer, viewer, admin tools if asked)."""

    lang: str
    organizer: bool = False
    viewer: bool = False
    admin: bool = False


Event = Send | Edit | Notice | SendPhoto | SendDocument | SendMedia | SetCommands | Deliver | Rearm
