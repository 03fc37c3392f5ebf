"""Layering rules read from the source: flows form no import cycle, imports stay at the top."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
FLOWS = "bot.flows"

# Modules a function may import on first use, because loading them costs startup time.
LAZY_ALLOWED = {
    "bot.report_charts": "matplotlib figures, drawn only when a report asks for a chart",
    "bot.charts": "matplotlib figures, drawn only when a profile chart is sent",
    "bot.export": "openpyxl workbooks, built only when someone asks for an export",
    "matplotlib": "slow to import; most processes never draw",
    "openpyxl": "slow to import; most processes never export",
    "qrcode": "pulls in Pillow; only /invite draws a QR code",
    "bot.xlsform": "pyxform, loaded only when a form is imported or exported",
}

# Function-level imports in modules outside the flows, left for their owners to move to the
# top of the module (or to justify as lazily loaded): this list may only shrink.
NOT_YET_MOVED = {
    ("bot.cli", "bot.app"): "the PTB application, not needed by `backup` or `import`",
    ("bot.cli", "storage.sqlite"): "imported with bot.app by the `run` command",
    ("bot.cli", "storage.backup"): "only the `backup` command needs it",
    ("bot.cli", "bot.clock"): "only the `import` command needs it",
    ("bot.cli", "bot.flows.workshops"): "only the `import` command needs it",
    ("bot.cli", "bot.services"): "only the `import` command needs it",
    ("bot.cli", "bot.rehearsal"): "the API double and the rehearsal, only for `rehearse`",
    ("bot.delivery", "bot.flows.reports"): "no cycle left: can move to the top of the module",
    ("bot.rehearsal.people", "unicodedata"): "standard library: can move to the top",
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, where it is and whether it runs inside a function."""

    importer: str
    target: str
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    """Return the dotted name of a source file under the project root."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Return every module under bot/, by dotted name."""
    return {module_name(p): p for p in sorted(BOT.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, importer: str, known: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = importer.split(".")
        is_package = (BOT / Path(*package[1:]) / "__init__.py").exists()
        anchor = package if is_package else package[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    # `from bot.flows import menu` imports the module bot.flows.menu.
    found = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known]
    return found or [base]


def _walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, in_function
        nested = in_function or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        yield from _walk(child, nested)


def imports() -> list[Import]:
    """List every import in bot/, module-level ones and those inside functions."""
    found = modules()
    known = set(found)
    out = []
    for name, path in found.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, in_function in _walk(tree, False):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, name, known):
                    out.append(Import(name, target, node.lineno, in_function))
    return out


def _is_flow(name: str) -> bool:
    return name.startswith(FLOWS + ".")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return one cycle through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_path_through(graph, group) for group in sorted(groups, key=min)]


def _path_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """Find a concrete cycle inside a strongly connected group, by breadth-first search."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph.get(node, set()) & group):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return sorted(group)


def _allowed_lazy(target: str) -> bool:
    return any(target == m or target.startswith(m + ".") for m in LAZY_ALLOWED)


def test_flow_modules_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for imp in imports():
        if _is_flow(imp.importer) and _is_flow(imp.target):
            graph.setdefault(imp.importer, set()).add(imp.target)
    cycles = _cycles(graph)
    assert not cycles, "import cycles between flows (one shown per tangle):\n" + "\n".join(
        " -> ".join(c) for c in cycles
    )


def test_functions_import_only_lazily_loaded_heavy_modules() -> None:
    wrong = [
        f"{imp.importer}:{imp.line} imports {imp.target}"
        for imp in imports()
        if imp.in_function
        and not _allowed_lazy(imp.target)
        and (imp.importer, imp.target) not in NOT_YET_MOVED
    ]
    assert not wrong, "imports inside functions (move them to the top):\n" + "\n".join(wrong)


def test_flows_never_import_telegram() -> None:
    wrong = [
        f"{imp.importer}:{imp.line}"
        for imp in imports()
        if _is_flow(imp.importer) and imp.target.split(".")[0] == "telegram"
    ]
    assert not wrong, "flows importing telegram: " + ", ".join(wrong)


# The calls that run SQL in sqlite3, aiosqlite and asyncpg.
SQL_CALLS = frozenset(
    {
        "execute",
        "executemany",
        "executescript",
        "execute_fetchall",
        "execute_insert",
        "fetch",
        "fetchrow",
        "fetchval",
        "copy_records_to_table",
    }
)


def test_only_storage_runs_sql() -> None:
    wrong = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
            ):
                wrong.append(f"{name}:{node.lineno}")
    assert not wrong, "SQL calls outside storage/: " + ", ".join(wrong)


def test_the_cycle_finder_names_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# Store methods each backend writes its own way, and why. Everything else is written once,
# in a mixin both stores share (storage/people.py, plans.py, comm.py, coord.py).
BACKEND_METHODS = {
    "open": "opening a file and opening a pool have nothing in common",
    "close": "idem",
    "schema_version": "migrations are recorded by each backend's own runner",
    "set_dialog": "every answer writes it: SQLite does it in one trip to its thread",
    "clear_dialog": "idem",
    "run_state": "every answer reads it: SQLite reads five tables in one trip",
    "record_answer": "every answer writes it: SQLite does it in one trip",
}


def _public_methods(path: Path, class_name: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return {
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                and not item.name.startswith("_")
            }
    raise AssertionError(f"no class {class_name} in {path}")


def test_each_store_method_is_written_once() -> None:
    storage = ROOT / "storage"
    sqlite = _public_methods(storage / "sqlite.py", "SqliteStore") - {"path"}
    postgres = _public_methods(storage / "postgres.py", "PostgresStore")
    assert sqlite == postgres == set(BACKEND_METHODS), (
        "a Store method copied into a backend instead of a shared mixin: "
        f"{sorted((sqlite | postgres) - set(BACKEND_METHODS))}"
    )
    interface = set().union(
        *(
            _public_methods(storage / "interface.py", protocol)
            for protocol in ["Store", "PlanStore", "CommunicationStore", "CoordinationStore"]
        )
    )
    shared = set().union(
        *(
            _public_methods(storage / module, mixin)
            for module, mixin in [
                ("people.py", "PeopleMixin"),
                ("plans.py", "PlanMixin"),
                ("comm.py", "CommunicationMixin"),
                ("coord.py", "CoordinationMixin"),
            ]
        )
    )
    assert shared.isdisjoint(BACKEND_METHODS)
    assert interface <= shared | set(BACKEND_METHODS), sorted(
        interface - shared - set(BACKEND_METHODS)
    )
