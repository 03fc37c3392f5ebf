"""The numbered migration scripts shipped with the package, for every backend."""

from __future__ import annotations

from importlib import resources

from storage.interface import StorageError


def migrations(folder: str = "migrations") -> list[tuple[int, str, str]]:
    """Return the numbered migrations of a folder as (number, name, sql), in order."""
    found: list[tuple[int, str, str]] = []
    for entry in (resources.files("storage") / folder).iterdir():
        name = entry.name
        if not name.endswith(".sql"):
            continue
        number = int(name.split("_", 1)[0])
        found.append((number, name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StorageError(f"migrations are not numbered 1..n: {numbers}")
    return found
