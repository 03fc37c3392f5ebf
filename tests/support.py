"""Test helpers: a controllable clock and ready-made services."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import content as content_pkg
from bot.content import Content, load_content
from bot.flows.common import Actor, Ctx
from bot.i18n import I18n
from bot.services import Services
from storage import Participant, Store, Workshop

CONTENT_DIR = content_pkg.DEFAULT_DIR
DATA = Path(__file__).parent / "data"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2023, 11, 20, 14, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


def load_test_content() -> Content:
    return load_content(CONTENT_DIR)


def load_i18n() -> I18n:
    return I18n.load(CONTENT_DIR / "locales")


def make_services(store: Store, content: Content, clock: FakeClock) -> Services:
    return Services(
        store=store,
        content=content,
        i18n=load_i18n(),
        clock=clock,
        admin_ids=frozenset({999}),
        bot_username="taller_test_bot",
    )


def ctx_for(svc: Services, telegram_id: int, lang: str = "es", first_name: str = "Ana") -> Ctx:
    return Ctx(svc, Actor(telegram_id, first_name, "Quispe", lang), lang)


async def joined_participant(svc: Services, telegram_id: int = 7) -> tuple[Workshop, Participant]:
    """Create a bare workshop in La Paz and have `telegram_id` join it, in Spanish."""
    workshop, _ = await svc.store.upsert_workshop(
        slug="w",
        language="es",
        timezone="America/La_Paz",
        start_date=date(2023, 11, 28),
        end_date=date(2023, 11, 29),
        spec={},
        join_code="J" * 16,
        now=svc.clock.now(),
    )
    participant, _ = await svc.store.join(
        workshop_id=workshop.id, telegram_id=telegram_id, language="es", now=svc.clock.now()
    )
    return workshop, participant


async def enrol_ready(
    store: Store, workshop_id: int, telegram_id: int, name: str, now: datetime
) -> None:
    """Join someone to a workshop with a finished profile, as the join flow leaves them."""
    participant, _ = await store.join(
        workshop_id=workshop_id, telegram_id=telegram_id, language="es", now=now
    )
    for field, value in (
        ("name", name),
        ("institution", "Gobierno Autónomo Municipal de Sacaba"),
        ("position", "Técnica"),
        ("country", "Bolivia"),
    ):
        await store.update_profile(participant.id, field=field, value=value)
    await store.mark_profile_done(participant.id)
