"""Who may do what: every role, the scope it is granted over, and every guarded action.

This is the one place that decides. Flows ask `may` (or `workshops_for`,
`associations_for`, `may_on_plan`) and never test roles themselves; `docs/authorization.md`
is generated from `POLICY` (`python -m bot.flows.access`), and the end-to-end authorization
test derives every expected outcome from it.

Roles and their scopes:
- an **administrator** (BOT_ADMIN_IDS) holds the role over everything;
- an **organizer** over the workshops they were made organizer of, and so over those
  workshops' plans and the associations those workshops belong to;
- a **viewer** over one association, and so over its workshops and their plans;
- a **plan member** (owner or co-owner) over one plan; the **plan owner** over one plan;
- a **participant** over the workshop they joined (their own answers and plans);
- **anyone** who writes to the bot.

A role listed for an action grants it only over that role's scope: an organizer of
workshop B holds nothing over workshop A, even inside the same association, unless the
action is about the association itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum

from bot.flows import callbacks as taps
from bot.flows.events import SetCommands
from bot.services import Services
from storage import Association, Plan, Workshop


class Role(StrEnum):
    """A kind of right a person can hold."""

    ADMIN = "administrator"
    ORGANIZER = "organizer"
    VIEWER = "viewer"
    MEMBER = "plan member"
    OWNER = "plan owner"
    PARTICIPANT = "participant"
    ANYONE = "anyone"


class On(StrEnum):
    """What an action is about: the thing a role must cover."""

    NOTHING = "nothing in particular"
    WORKSHOP = "a workshop"
    ASSOCIATION = "an association"
    PLAN = "a plan"


class Action(StrEnum):
    """Every action the bot guards."""

    USE_BOT = "use.bot"
    TAKE_PART = "workshop.take_part"
    WORKSHOP_CREATE = "workshop.create"
    WORKSHOP_UPDATE = "workshop.update"
    WORKSHOP_ASSOCIATION = "workshop.association"
    ORGANIZERS_MANAGE = "workshop.organizers"
    BROADCAST = "workshop.broadcast"
    REPORT = "workshop.report"
    EVALUATION_OPEN = "workshop.evaluation"
    JOIN_LINK = "workshop.join_link"
    LINK_GROUP = "workshop.link_group"
    WORKSHOP_PROGRESS = "workshop.progress"
    ASSOCIATION_PROGRESS = "association.progress"
    ASSOCIATION_DIGEST = "association.digest"
    VIEWERS_MANAGE = "association.viewers"
    PLAN_EDIT = "plan.edit"
    PLAN_TEAM_LINK = "plan.team_link"


@dataclass(frozen=True)
class Rule:
    """Who may take an action, what it is about, and the commands and buttons that take it."""

    on: On
    roles: frozenset[Role]
    what: str
    commands: tuple[str, ...] = ()
    buttons: tuple[type[taps.CallbackData], ...] = ()


def _rule(
    on: On,
    roles: tuple[Role, ...],
    what: str,
    commands: tuple[str, ...] = (),
    buttons: tuple[type[taps.CallbackData], ...] = (),
) -> Rule:
    return Rule(on, frozenset(roles), what, commands, buttons)


ADMIN, ORGANIZER, VIEWER = Role.ADMIN, Role.ORGANIZER, Role.VIEWER

POLICY: dict[Action, Rule] = {
    Action.USE_BOT: _rule(
        On.NOTHING,
        (Role.ANYONE,),
        "start, join with a code, read help and privacy, choose language and time zone,"
        " get a copy of one's data, forget it",
        ("start", "help", "language", "privacy", "mydata", "forget"),
        (
            taps.JoinLanguage,
            taps.JoinContinue,
            taps.Consent,
            taps.OpenMenu,
            taps.PickLanguage,
            taps.Forget,
            taps.ShowPrivacy,
            taps.ShowHelp,
            taps.MyData,
            taps.PickTimezone,
        ),
    ),
    Action.TAKE_PART: _rule(
        On.WORKSHOP,
        (Role.PARTICIPANT,),
        "answer one's own DGCA and evaluation, rate sessions, see the agenda, set reminders,"
        " start an action plan",
        ("menu", "dgca", "agenda", "next", "reminders", "evaluation", "plan"),
        (
            taps.Answer,
            taps.AnswerDate,
            taps.EditCancel,
            taps.Toggle,
            taps.Done,
            taps.Skip,
            taps.Pick,
            taps.PickPage,
            taps.PickOther,
            taps.Suggest,
            taps.Back,
            taps.ReviewEdit,
            taps.ReviewSection,
            taps.ReviewQuestion,
            taps.ReviewShow,
            taps.Submit,
            taps.SubmitConfirm,
            taps.OpenDgca,
            taps.PickWorkshop,
            taps.SetReminders,
            taps.SetAttendance,
            taps.OpenEvaluation,
            taps.OpenEventEvaluation,
            taps.RateSession,
            taps.CommentSession,
            taps.PlanList,
            taps.PlanNew,
        ),
    ),
    Action.WORKSHOP_CREATE: _rule(
        On.NOTHING,
        (ADMIN,),
        "import a workshop file for a workshop that does not exist yet (its importer becomes"
        " its organizer)",
    ),
    Action.WORKSHOP_UPDATE: _rule(
        On.WORKSHOP,
        (ADMIN, ORGANIZER),
        "import a new version of a workshop's file",
    ),
    Action.WORKSHOP_ASSOCIATION: _rule(
        On.WORKSHOP,
        (ADMIN,),
        "in a workshop file: attach the workshop to an association, create one or rename one",
    ),
    Action.ORGANIZERS_MANAGE: _rule(
        On.WORKSHOP,
        (ADMIN,),
        "list a workshop's organizers, invite one (a one-time link that expires), remove one,"
        " cancel pending invitations",
        ("organizers", "organizer"),
        (taps.OrgInvite, taps.OrgPanel, taps.OrgRemove, taps.OrgRevoke),
    ),
    Action.BROADCAST: _rule(
        On.WORKSHOP,
        (ADMIN, ORGANIZER),
        "send, schedule or stop a message to a workshop's participants",
        ("broadcast",),
        (
            taps.Audience,
            taps.AudienceInstitution,
            taps.BroadcastSend,
            taps.BroadcastSchedule,
            taps.BroadcastCancel,
            taps.BroadcastStop,
        ),
    ),
    Action.REPORT: _rule(
        On.WORKSHOP,
        (ADMIN, ORGANIZER),
        "get a workshop's charts and exports (in a private chat, or in the group linked to"
        " that workshop)",
        ("report",),
        (taps.OrgAction, taps.Report),
    ),
    Action.EVALUATION_OPEN: _rule(
        On.WORKSHOP,
        (ADMIN, ORGANIZER),
        "see the evaluation's state and open it early",
        ("openeval",),
        (taps.EvaluationAdmin,),
    ),
    Action.JOIN_LINK: _rule(
        On.WORKSHOP,
        (ADMIN, ORGANIZER),
        "get a workshop's join link and QR code",
        ("invite",),
    ),
    Action.LINK_GROUP: _rule(
        On.WORKSHOP,
        (ADMIN, ORGANIZER),
        "link a group as the workshop's organizers' group (automatic reports go there)",
        ("linkgroup",),
        (taps.LinkGroup,),
    ),
    Action.WORKSHOP_PROGRESS: _rule(
        On.WORKSHOP,
        (ADMIN, ORGANIZER, VIEWER),
        "see a workshop's action-plan dashboard, export it, open its evidence",
        ("progress",),
        (taps.ProgressView, taps.ProgressExport, taps.ProgressEvidence, taps.Evidence),
    ),
    Action.ASSOCIATION_PROGRESS: _rule(
        On.ASSOCIATION,
        (ADMIN, VIEWER),
        "see an association's dashboard across its workshops (offered by /progress), export it",
        (),
        (taps.ProgressView, taps.ProgressExport, taps.ProgressEvidence),
    ),
    Action.ASSOCIATION_DIGEST: _rule(
        On.ASSOCIATION,
        (VIEWER,),
        "turn one's own monthly digest of an association on or off",
        (),
        (taps.ProgressDigest,),
    ),
    Action.VIEWERS_MANAGE: _rule(
        On.ASSOCIATION,
        (ADMIN, ORGANIZER),
        "appoint an association's viewers (one-time links) and remove them",
        ("viewer",),
        (taps.ViewerPanel, taps.ViewerInvite, taps.ViewerRemove),
    ),
    Action.PLAN_EDIT: _rule(
        On.PLAN,
        (Role.MEMBER,),
        "open, write and update a plan, its steps and their progress; leave its team",
        (),
        (
            taps.PlanOpen,
            taps.PlanEdit,
            taps.PlanField,
            taps.PlanContact,
            taps.PlanAddStep,
            taps.PlanTeam,
            taps.PlanLeave,
            taps.PlanLeaveConfirm,
            taps.UpdateStart,
            taps.UpdateStop,
            taps.StepOpen,
            taps.StepField,
            taps.StepUp,
            taps.StepDown,
            taps.StepRemove,
            taps.StepRemoveConfirm,
        ),
    ),
    Action.PLAN_TEAM_LINK: _rule(
        On.PLAN,
        (Role.OWNER,),
        "make a new team link for a plan (the old one stops working)",
        (),
        (taps.PlanNewLink,),
    ),
}


@dataclass(frozen=True)
class Grants:
    """The roles one person holds, with their scopes, read once per question."""

    telegram_id: int
    admin: bool
    organizes: frozenset[int]
    organizes_in: frozenset[int]
    views: frozenset[int]


async def grants(svc: Services, telegram_id: int) -> Grants:
    """Read the roles a person holds."""
    workshops = await svc.store.organizer_workshops(telegram_id)
    viewed = await svc.store.viewer_associations(telegram_id)
    return Grants(
        telegram_id,
        telegram_id in svc.admin_ids,
        frozenset(w.id for w in workshops),
        frozenset(w.association_id for w in workshops if w.association_id is not None),
        frozenset(a.id for a in viewed),
    )


def _holds_on_workshop(g: Grants, roles: frozenset[Role], workshop: Workshop) -> bool:
    return (
        (ADMIN in roles and g.admin)
        or (ORGANIZER in roles and workshop.id in g.organizes)
        or (VIEWER in roles and workshop.association_id in g.views)
    )


def _holds_on_association(g: Grants, roles: frozenset[Role], association_id: int) -> bool:
    return (
        (ADMIN in roles and g.admin)
        or (ORGANIZER in roles and association_id in g.organizes_in)
        or (VIEWER in roles and association_id in g.views)
    )


async def may(svc: Services, telegram_id: int, action: Action, target: int | None = None) -> bool:
    """Tell whether a person may take an action on a workshop or association id (or nothing)."""
    rule = POLICY[action]
    if Role.ANYONE in rule.roles:
        return True
    g = await grants(svc, telegram_id)
    if rule.on is On.NOTHING:
        return ADMIN in rule.roles and g.admin
    if target is None:
        return False
    if rule.on is On.WORKSHOP:
        if Role.PARTICIPANT in rule.roles and await svc.store.participant(target, telegram_id):
            return True
        workshop = await svc.store.workshop(target)
        return workshop is not None and _holds_on_workshop(g, rule.roles, workshop)
    if rule.on is On.ASSOCIATION:
        return await svc.store.association(target) is not None and _holds_on_association(
            g, rule.roles, target
        )
    plan = await svc.store.plan(target)
    return plan is not None and may_on_plan(telegram_id, action, plan)


def may_on_plan(telegram_id: int, action: Action, plan: Plan) -> bool:
    """Tell whether a person may take a plan action on this (already loaded) plan."""
    rule = POLICY[action]
    if rule.on is not On.PLAN:
        raise ValueError(f"{action} is not about a plan")
    member = plan.member(telegram_id)
    if member is None:
        return False
    return Role.MEMBER in rule.roles or (Role.OWNER in rule.roles and member.role == "owner")


async def workshops_for(svc: Services, telegram_id: int, action: Action) -> list[Workshop]:
    """Return the workshops on which a person may take a workshop action, oldest first."""
    rule = POLICY[action]
    if rule.on is not On.WORKSHOP:
        raise ValueError(f"{action} is not about a workshop")
    g = await grants(svc, telegram_id)
    if ADMIN in rule.roles and g.admin:
        return await svc.store.all_workshops()
    found: dict[int, Workshop] = {}
    if ORGANIZER in rule.roles:
        found |= {w.id: w for w in await svc.store.organizer_workshops(telegram_id)}
    if VIEWER in rule.roles:
        for association_id in sorted(g.views):
            found |= {w.id: w for w in await svc.store.association_workshops(association_id)}
    return [found[k] for k in sorted(found)]


async def associations_for(svc: Services, telegram_id: int, action: Action) -> list[Association]:
    """Return the associations on which a person may take an association action."""
    rule = POLICY[action]
    if rule.on is not On.ASSOCIATION:
        raise ValueError(f"{action} is not about an association")
    g = await grants(svc, telegram_id)
    if ADMIN in rule.roles and g.admin:
        return await svc.store.all_associations()
    ids: set[int] = set()
    if ORGANIZER in rule.roles:
        ids |= g.organizes_in
    if VIEWER in rule.roles:
        ids |= g.views
    found = [await svc.store.association(i) for i in sorted(ids)]
    return [a for a in found if a is not None]


async def has_any_role(svc: Services, telegram_id: int, *roles: Role) -> bool:
    """Tell whether a person holds one of these roles over anything (for menus and hints)."""
    g = await grants(svc, telegram_id)
    return (
        (ADMIN in roles and g.admin)
        or (ORGANIZER in roles and bool(g.organizes))
        or (VIEWER in roles and bool(g.views))
    )


async def command_menu(svc: Services, telegram_id: int, lang: str) -> SetCommands:
    """Return the command menu for what a person holds (one read of their roles)."""
    g = await grants(svc, telegram_id)
    return SetCommands(lang, organizer=bool(g.organizes), viewer=bool(g.views), admin=g.admin)


def markdown_table() -> str:
    """Render the policy as the Markdown table kept in docs/authorization.md."""
    order = [Role.ADMIN, Role.ORGANIZER, Role.VIEWER, Role.OWNER, Role.MEMBER, Role.PARTICIPANT]
    head = ["Action", "About", *[r.value for r in order], "Anyone", "Commands and buttons"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for action, rule in POLICY.items():
        anyone = Role.ANYONE in rule.roles
        marks = ["✅" if anyone or role in rule.roles else "—" for role in order]
        entry_points = [f"/{c}" for c in rule.commands] + [b.__name__ for b in rule.buttons]
        cells = [
            f"`{action.value}`: {rule.what}",
            rule.on.value,
            *marks,
            "✅" if anyone else "—",
            ", ".join(entry_points) or "(a file sent to the bot)",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
