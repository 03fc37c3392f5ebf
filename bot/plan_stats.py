"""Figures about action plans for dashboards and digests: plain data in, plain data out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from storage import PlanData, PlanMember, PlanRecord, PlanStep, StepStatus

NO_INSTITUTION = "—"


@dataclass(frozen=True)
class FlaggedStep:
    """A step someone following up should look at (late or blocked), with what is known.

    `note` is the latest note written on the step and `noted_at` when; `contacts` are the
    plan's members who agreed to be contacted by those following the plans up.
    """

    step: PlanStep
    plan: PlanRecord
    days_late: int
    note: str | None
    noted_at: datetime | None
    contacts: tuple[PlanMember, ...]


@dataclass(frozen=True)
class StalePlan:
    """A plan and the time of its latest sign of life (update, or creation)."""

    plan: PlanRecord
    last_update: datetime
    updated: bool


@dataclass(frozen=True)
class Figures:
    """What /progress and the digest show, computed once from the plans' data."""

    plans: int
    steps: int
    by_status: dict[StepStatus, int]
    by_institution: dict[str, dict[StepStatus, int]]
    overdue: list[FlaggedStep]
    blocked: list[FlaggedStep]
    checkins_sent: int
    checkins_answered: int
    members: int
    unreachable: int
    stalest: list[StalePlan]
    sdgs: list[tuple[int, int]]
    done_by_month: list[tuple[str, int]]
    updates: int
    evidence: int
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def response_rate(self) -> float | None:
        """Return the share of check-ins answered, or None when none was sent."""
        return self.checkins_answered / self.checkins_sent if self.checkins_sent else None

    def snapshot(self) -> dict[str, int]:
        """Return the counts a later digest compares itself with."""
        return {
            "plans": self.plans,
            "steps": self.steps,
            "done": self.by_status.get(StepStatus.DONE, 0),
            "overdue": len(self.overdue),
            "updates": self.updates,
            "evidence": self.evidence,
        }


def _months(first: date, last: date) -> list[str]:
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def compute(
    data: PlanData, today: dict[int, date], now: datetime, *, stale: int = 5, months: int = 12
) -> Figures:
    """Compute every figure from the plans of some workshops; `today` is per workshop."""
    plans = {p.id: p for p in data.plans}
    live = [s for s in data.steps if not s.removed and s.plan_id in plans]
    by_status = Counter(s.status for s in live)
    by_institution: dict[str, Counter[StepStatus]] = {}
    for step in live:
        name = plans[step.plan_id].institution or NO_INSTITUTION
        by_institution.setdefault(name, Counter())[step.status] += 1
    notes: dict[int, tuple[str, datetime]] = {}
    for update in data.updates:  # in id order: the last note written wins
        if update.note:
            notes[update.step_id] = (update.note, update.created_at)
    contacts = {
        plan_id: tuple(m for m in people if m.contact and m.telegram_id and m.name)
        for plan_id, people in data.members.items()
    }

    def flagged(step: PlanStep, days_late: int) -> FlaggedStep:
        note, noted_at = notes.get(step.id, (None, None))
        plan = plans[step.plan_id]
        return FlaggedStep(step, plan, days_late, note, noted_at, contacts.get(plan.id, ()))

    overdue, blocked = [], []
    for step in live:
        day = today.get(plans[step.plan_id].workshop_id, now.date())
        late = (day - step.due_date).days if step.due_date is not None else 0
        # A blocked step past its date is both: the dashboard lists it once, as blocked.
        if step.status is StepStatus.BLOCKED:
            blocked.append(flagged(step, max(late, 0)))
        if late > 0 and not step.status.closed:
            overdue.append(flagged(step, late))
    overdue.sort(key=lambda o: (-o.days_late, o.step.id))
    # The longest-blocked first: the date of the latest update is when it was reported.
    blocked.sort(key=lambda b: (b.step.updated_at or now, b.step.id))
    step_plan = {s.id: s.plan_id for s in data.steps}
    last: dict[int, datetime] = {}
    for update in data.updates:
        plan_id = step_plan.get(update.step_id)
        if plan_id is not None and (plan_id not in last or update.created_at > last[plan_id]):
            last[plan_id] = update.created_at
    stalest = sorted(
        (StalePlan(p, last.get(p.id, p.created_at), p.id in last) for p in data.plans),
        key=lambda s: (s.last_update, s.plan.id),
    )[:stale]
    sdg_counts = Counter(n for p in data.plans for n in p.sdgs)
    # A step counts as done in the month it was first marked done.
    first_done: dict[int, datetime] = {}
    for update in data.updates:
        if update.status is StepStatus.DONE and update.step_id not in first_done:
            first_done[update.step_id] = update.created_at
    live_ids = {s.id for s in live}
    done_months = Counter(
        when.strftime("%Y-%m") for step_id, when in first_done.items() if step_id in live_ids
    )
    if data.plans:
        start = min(p.created_at for p in data.plans).date()
        labels = _months(start, now.date())[-months:]
    else:
        labels = []
    members = {m.participant_id: m for ms in data.members.values() for m in ms}
    counted = [c for c in data.checkins if c.kind != "manual"]
    # An update answers every open request of its plan at once; a request counts as answered
    # only if that came before the plan's next request, so a first answer after six months
    # does not make the one- and three-month check-ins look answered.
    next_asked: dict[int, datetime] = {}
    later: dict[int, datetime] = {}
    for checkin in sorted(counted, key=lambda c: (c.created_at, c.id), reverse=True):
        if checkin.plan_id in later:
            next_asked[checkin.id] = later[checkin.plan_id]
        later[checkin.plan_id] = checkin.created_at
    return Figures(
        plans=len(data.plans),
        steps=len(live),
        by_status={s: by_status.get(s, 0) for s in StepStatus},
        by_institution={
            name: {s: counts.get(s, 0) for s in StepStatus}
            for name, counts in sorted(by_institution.items())
        },
        overdue=overdue,
        blocked=blocked,
        checkins_sent=len(counted),
        checkins_answered=sum(
            1
            for c in counted
            if c.answered_at is not None
            and (c.id not in next_asked or c.answered_at < next_asked[c.id])
        ),
        members=len(members),
        unreachable=sum(1 for m in members.values() if m.unreachable),
        stalest=stalest,
        sdgs=sorted(sdg_counts.items(), key=lambda item: (-item[1], item[0])),
        done_by_month=[(label, done_months.get(label, 0)) for label in labels],
        updates=len(data.updates),
        evidence=len(data.evidence),
    )
