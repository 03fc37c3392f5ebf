"""Render the /progress chart set from simulated plans into docs/samples/progress/.

Run: .venv/bin/python scripts/progress_samples.py [--out DIR] [--seed N]
The plans, steps and updates are made up (seeded); the figures, charts, text and workbook
come from the bot's own code, exactly as a viewer would receive them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.content import load_content, load_workshop_file
from bot.export import build_tables_xlsx
from bot.flows.checkins import STATUS_CODES
from bot.flows.events import SendPhoto
from bot.flows.progress import Scope, _tables, chart_events, figures_for, summary_text
from bot.flows.schedule import add_months
from bot.flows.workshops import import_workshop
from bot.i18n import I18n
from bot.services import Services
from storage import open_store

ROOT = Path(__file__).resolve().parent.parent
CONTENT = ROOT / "content"
ACTIONS = [
    "Digitalizar el trámite de licencias",
    "Capacitar al personal de ventanilla",
    "Publicar datos abiertos de presupuesto",
    "Crear la mesa de ayuda ciudadana",
    "Firmar convenio con la AGETIC",
    "Diagnóstico de sistemas existentes",
]
TITLES = [
    "Trámites municipales en línea",
    "Gobierno abierto municipal",
    "Atención ciudadana digital",
    "Catastro digital",
]


class FixedClock:
    """A clock that says what the script decides."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        """Return the chosen time."""
        return self.current


async def main(out: Path, seed: int) -> None:
    """Simulate six months of plans and write what /progress shows."""
    rng = random.Random(seed)
    content = load_content(CONTENT)
    i18n = I18n.load(CONTENT / "locales")
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite:///{tmp}/samples.sqlite3")
        start = datetime(2023, 11, 29, 18, tzinfo=UTC)
        clock = FixedClock(start)
        svc = Services(store=store, content=content, i18n=i18n, clock=clock)
        spec = load_workshop_file(CONTENT / "workshops" / "cochabamba-2023.yaml")
        workshop = (await import_workshop(svc, spec, "sample", start)).workshop
        updates: list[tuple[datetime, int, int, str]] = []
        for person in range(40):
            participant, _ = await store.join(
                workshop_id=workshop.id, telegram_id=1000 + person, language="es", now=start
            )
            institution = spec.institutions[person % 7 + 1]
            await store.update_profile(participant.id, field="institution", value=institution)
            await store.update_profile(participant.id, field="name", value=f"P{person}")
            if rng.random() < 0.3:
                continue
            plan_id = await store.create_plan(
                workshop.id, participant.id, rng.choice(TITLES), start
            )
            sdgs = sorted(rng.sample([8, 9, 10, 11, 16, 17], rng.randint(1, 3)))
            await store.set_plan_field(plan_id, "sdgs", ",".join(map(str, sdgs)), start)
            for action in rng.sample(ACTIONS, rng.randint(2, 4)):
                step = await store.add_step(plan_id, action, start)
                due = add_months(start.date(), rng.choice([1, 2, 3, 4, 6]))
                await store.set_step_field(step, "due_date", due.isoformat(), start)
                when = start
                for _ in range(rng.randint(0, 3)):
                    when += timedelta(days=rng.randint(15, 60))
                    if when < start + timedelta(days=180):
                        status = rng.choice(list(STATUS_CODES.values()))
                        updates.append((when, step, participant.id, status))
        # Check-ins and updates happen in time order, so updates answer earlier check-ins.
        plans = await store.plans_in(workshop.id)
        for months in (1, 3, 6):
            asked = start + timedelta(days=30 * months)
            updates.append((asked, 0, 0, f"m{months}"))
        for when, step, author, status in sorted(updates, key=lambda u: u[0]):
            if step == 0:
                occasions = [(p.id, status, "scheduled") for p in plans]
                await store.open_checkins(occasions, [], f"s{status}", when)
            else:
                await store.record_update(step, author, status, None, when)
        clock.current = datetime.combine(
            add_months(date(2023, 11, 29), 6), datetime.min.time(), UTC
        )
        svc = Services(store=store, content=content, i18n=i18n, clock=clock)
        out.mkdir(parents=True, exist_ok=True)
        for lang in ("es", "en"):
            tr = i18n(lang)
            scope = Scope("w", workshop.id)
            figures, data, workshops = await figures_for(svc, scope)
            name = spec.title.get(lang)
            text = summary_text(tr, name, figures)
            plain = re.sub(r"</?[a-z]+>", "", text)
            (out / f"progress-{lang}.txt").write_text(plain + "\n", encoding="utf-8")
            charts = [
                e for e in chart_events(tr, name, figures, clock.now()) if isinstance(e, SendPhoto)
            ]
            for index, chart in enumerate(charts, start=1):
                (out / f"progress-{lang}-{index}.png").write_bytes(chart.render())
            if lang == "es":
                book = build_tables_xlsx(
                    _tables(tr, data, workshops, lang), generated_at=clock.now(), tz=spec.zone
                )
                (out / "planes-sample.xlsx").write_bytes(book)
        await store.close()
    print(f"wrote {sorted(p.name for p in out.iterdir())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "samples" / "progress")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.out, args.seed))
