"""What the bot waits for from a person: one typed model per waiting state.

A dialog is a row in storage (`DialogState` and JSON data) so that it survives restarts.
Each feature declares the states it owns as `Waiting` models, with the typed handlers for
text and media that arrive while the person is in that state. `bot/flows/router.py` decodes
the stored row into its model and calls the handler registered for it: no central list of
states, and no untyped dictionaries in the flows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.flows.common import Ctx, Media
from bot.flows.events import Event
from storage import Dialog, DialogState

W = TypeVar("W", bound="Waiting")
TextHandler = Callable[[Ctx, Any, str], Awaitable[list[Event]]]
MediaHandler = Callable[[Ctx, Any, Media], Awaitable[list[Event]]]


class Waiting(BaseModel):
    """What the bot waits for in one state; subclasses set `state` and their fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    state: ClassVar[DialogState]
    # Whether the person is expected to type (so that media gets "please type it" instead
    # of a general answer); states answered with buttons leave it False.
    expects_text: ClassVar[bool] = True

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        state = cls.__dict__.get("state")
        if state is None:
            return
        if state in _MODELS:
            raise TypeError(f"{cls.__name__}: {state} is already {_MODELS[state].__name__}'s")
        _MODELS[state] = cls

    def data(self) -> dict[str, Any]:
        """Return the model as the JSON-ready dict kept in storage."""
        return self.model_dump(mode="json")


_MODELS: dict[DialogState, type[Waiting]] = {}


@dataclass(frozen=True)
class _Handlers(Generic[W]):
    text: Callable[[Ctx, W, str], Awaitable[list[Event]]]
    media: Callable[[Ctx, W, Media], Awaitable[list[Event]]] | None


_HANDLERS: dict[type[Waiting], _Handlers[Any]] = {}


def handles(
    model: type[W],
    text: Callable[[Ctx, W, str], Awaitable[list[Event]]],
    media: Callable[[Ctx, W, Media], Awaitable[list[Event]]] | None = None,
) -> None:
    """Register what to do with text (and media) that arrive while waiting in `model`."""
    if model in _HANDLERS:
        raise TypeError(f"{model.__name__} already has its handlers")
    _HANDLERS[model] = _Handlers(text, media)


def decode(dialog: Dialog | None) -> Waiting | None:
    """Return the stored dialog as its typed model; None if absent or unreadable."""
    if dialog is None:
        return None
    model = _MODELS.get(dialog.state)
    if model is None:
        return None
    try:
        return model.model_validate(dialog.data)
    except ValidationError:
        return None


def as_(dialog: Dialog | None, model: type[W]) -> W | None:
    """Return the stored dialog as `model` if it is in that state, else None."""
    waiting = decode(dialog)
    return waiting if isinstance(waiting, model) else None


async def wait_for(ctx: Ctx, waiting: Waiting) -> Dialog:
    """Store what the bot now waits for from the person, and return the stored row."""
    data = waiting.data()
    await ctx.svc.store.set_dialog(ctx.actor.telegram_id, waiting.state, data, ctx.svc.clock.now())
    return Dialog(ctx.actor.telegram_id, waiting.state, data)


async def on_text(ctx: Ctx, waiting: Waiting, text: str) -> list[Event] | None:
    """Run the text handler of the state the person is in; None if it has none."""
    handlers = _HANDLERS.get(type(waiting))
    return None if handlers is None else await handlers.text(ctx, waiting, text)


async def on_media(ctx: Ctx, waiting: Waiting, item: Media) -> list[Event] | None:
    """Run the media handler of the state the person is in; None if it takes no media."""
    handlers = _HANDLERS.get(type(waiting))
    if handlers is None or handlers.media is None:
        return None
    return await handlers.media(ctx, waiting, item)


def states() -> dict[DialogState, type[Waiting]]:
    """Return every waiting state with its model (for tests and documentation)."""
    return dict(_MODELS)


def handled() -> set[type[Waiting]]:
    """Return the models that have handlers registered."""
    return set(_HANDLERS)
