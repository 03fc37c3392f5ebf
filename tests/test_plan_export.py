"""The /progress plans workbook: packed on a thread of the bot, built in the worker process."""

from __future__ import annotations

import gc
import io
import pickle
from datetime import UTC, date, datetime
from functools import partial
from zoneinfo import ZoneInfo

from openpyxl import load_workbook

from bot.flows import progress
from bot.flows.plans import sdg_label
from storage import PlanData, StepStatus
from storage.models import Checkin, Evidence, PlanMember, PlanRecord, PlanStep, StepUpdate
from tests.support import load_i18n

TZ = ZoneInfo("America/La_Paz")  # UTC-4 all year
NOW = datetime(2024, 5, 29, 14, 0, tzinfo=UTC)
CREATED = datetime(2023, 11, 29, 18, 0, tzinfo=UTC)
LATER = datetime(2024, 1, 10, 13, 30, tzinfo=UTC)
SACABA = "Gobierno Autónomo Municipal de Sacaba"
NOTE = "Avance\nsegún lo previsto"


def plan_data() -> PlanData:
    return PlanData(
        plans=[
            PlanRecord(1, 7, "Trámites en línea", SACABA, (8, 11), CREATED),
            PlanRecord(2, 7, '=HYPERLINK("x")', None, (), CREATED),
        ],
        steps=[
            PlanStep(
                10,
                1,
                1,
                "Digitalizar licencias",
                "Unidad de sistemas",
                None,
                "Trámites en línea",
                date(2024, 2, 1),
                None,
                StepStatus.DONE,
                LATER,
            ),
            PlanStep(
                11, 1, 2, "Capacitar", None, None, None, None, None, StepStatus.BLOCKED, None, True
            ),
            PlanStep(
                20,
                2,
                1,
                "Publicar datos",
                None,
                None,
                None,
                None,
                None,
                StepStatus.NOT_STARTED,
                None,
            ),
        ],
        updates=[
            StepUpdate(
                100, 10, 5, StepStatus.IN_PROGRESS, "Avance\nsegún lo previsto", None, LATER
            ),
            StepUpdate(101, 10, 5, StepStatus.DONE, "=Revisar con legal", None, LATER),
            StepUpdate(102, 11, 6, StepStatus.BLOCKED, None, None, LATER),
        ],
        evidence=[
            Evidence(1000, 100, "photo", "AgAD-file", None, "p.jpg", LATER),
            Evidence(1001, 100, "link", None, "https://sacaba.example.bo/informe", None, LATER),
            Evidence(1002, 101, "link", None, "https://sacaba.example.bo/acta", None, LATER),
        ],
        checkins=[Checkin(1, 1, "m1", "month_1", CREATED, None, None)],
        members={
            # Ana did not agree to be contacted: only Luis and Eva are named, as they agreed.
            1: [
                PlanMember(5, 1005, "Ana Quispe", "owner", "es", False),
                PlanMember(6, 1006, "Luis Mamani", "coowner", "es", False, True, "luism"),
            ],
            2: [PlanMember(9, 1009, "Eva Rojas", "owner", "es", False, contact=True)],
        },
        authors={5: None, 6: None},
    )


def test_plans_workbook_from_packed_data() -> None:
    tr = load_i18n()("es")
    data = plan_data()
    box = [data]
    packed, words = progress._pack_export(tr, box, {7: "Taller Cochabamba 2023"})
    # The thread took the only reference and let go of every record on its own thread.
    assert box == []
    assert (data.plans, data.steps, data.updates, data.evidence, data.checkins) == (
        [],
        [],
        [],
        [],
        [],
    )
    build = partial(progress.build_plans_xlsx, packed, words, generated_at=NOW, tz=TZ)
    # The worker process gets the call pickled, as the executor sends it.
    xlsx = pickle.loads(pickle.dumps(build))()
    book = load_workbook(io.BytesIO(xlsx))
    assert book.sheetnames == ["Planes", "Pasos", "Actualizaciones"]
    plans = list(book["Planes"].iter_rows(values_only=True))
    assert plans[0] == tuple(tr.plain(f"plan_export.plans.{c}") for c in progress.PLAN_COLUMNS)
    local_created = datetime(2023, 11, 29, 14, 0)
    assert plans[1:] == [
        (
            1,
            "Taller Cochabamba 2023",
            SACABA,
            "Trámites en línea",
            f"{sdg_label(tr, 8)}; {sdg_label(tr, 11)}",
            2,
            "Luis Mamani (@luism)",
            local_created,
        ),
        (
            2,
            "Taller Cochabamba 2023",
            None,
            '=HYPERLINK("x")',
            "",
            1,
            "Eva Rojas (tg://user?id=1009)",
            local_created,
        ),
    ]
    assert book["Planes"]["D3"].data_type == "s" and book["Planes"]["D3"].quotePrefix
    steps = list(book["Pasos"].iter_rows(min_row=2, values_only=True))
    local_later = datetime(2024, 1, 10, 9, 30)
    done, blocked, not_started, yes, no = (
        tr.plain("plan.status.done"),
        tr.plain("plan.status.blocked"),
        tr.plain("plan.status.not_started"),
        tr.plain("export.yes"),
        tr.plain("export.no"),
    )
    assert steps == [
        (
            10,
            1,
            SACABA,
            1,
            "Digitalizar licencias",
            "Unidad de sistemas",
            None,
            "Trámites en línea",
            "2024-02-01",
            None,
            done,
            local_later,
            no,
        ),
        (11, 1, SACABA, 2, "Capacitar", None, None, None, None, None, blocked, None, yes),
        (20, 2, None, 1, "Publicar datos", None, None, None, None, None, not_started, None, no),
    ]
    updates = list(book["Actualizaciones"].iter_rows(min_row=2, values_only=True))
    assert updates == [
        (
            100,
            1,
            10,
            "P0005",
            tr.plain("plan.status.in_progress"),
            NOTE,
            "photo: AgAD-file\nlink: https://sacaba.example.bo/informe",
            local_later,
        ),
        (
            101,
            1,
            10,
            "P0005",
            done,
            "=Revisar con legal",
            "link: https://sacaba.example.bo/acta",
            local_later,
        ),
        (102, 1, 11, "P0006", blocked, None, None, local_later),
    ]
    assert book["Actualizaciones"]["F3"].data_type == "s"


def test_an_empty_scope_makes_a_workbook_of_headers() -> None:
    tr = load_i18n()("en")
    packed, words = progress._pack_export(tr, [PlanData([], [], [], [], [], {}, {})], {})
    book = load_workbook(
        io.BytesIO(progress.build_plans_xlsx(packed, words, generated_at=NOW, tz=TZ))
    )
    assert [len(list(ws.iter_rows())) for ws in book.worksheets] == [1, 1, 1]


def test_full_collections_wait_while_plan_data_is_alive() -> None:
    before = gc.get_threshold()
    with progress.few_full_collections():
        young, middle, full = gc.get_threshold()
        assert (young, middle) == before[:2] and full == progress.QUIET_FULL_THRESHOLD
        with progress.few_full_collections():
            assert gc.get_threshold()[2] == progress.QUIET_FULL_THRESHOLD
        # The inner window ending does not end the outer one.
        assert gc.get_threshold()[2] == progress.QUIET_FULL_THRESHOLD
    assert gc.get_threshold() == before
    try:
        with progress.few_full_collections():
            raise RuntimeError("the flow failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
