"""Generate the compact Bot API spec (botapi_spec.json) used by the test double.

Usage: ``python -m bot.apidouble.make_spec /path/to/api.min.json``

The input is the machine-readable Bot API reference published by the
PaulSonOfLars/telegram-bot-api-spec project (MIT).  Only what the double needs
is kept: ``methods`` and ``types`` map names to ``{field: {"required", "types"}}``;
``returns`` holds each method's return types and ``subtypes`` the members of
abstract types (BotCommandScope, ChatMember...).  Discriminator fields of
subtypes ("type", "status", "source") also carry ``const``, the value the
documentation says they always have.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_SPEC = HERE / "botapi_spec.json"
OUT_LICENSE = HERE / "LICENSE-spec"

# Subtypes document their discriminator as 'always "kicked"' or 'must be default'.
_CONST_RE = re.compile(r"(?:always|must be) [\"“]?([a-z_]+)[\"”]?\s*$")
_DISCRIMINATORS = frozenset({"type", "status", "source"})


def _fields(entries: list[dict[str, Any]], *, subtype: bool) -> dict[str, dict[str, Any]]:
    """Convert a list of field descriptions into the compact mapping."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        item: dict[str, Any] = {
            "required": bool(entry.get("required", False)),
            "types": list(entry.get("types", [])),
        }
        if subtype and entry["name"] in _DISCRIMINATORS:
            match = _CONST_RE.search(str(entry.get("description", "")))
            if match:
                item["const"] = match.group(1)
        out[entry["name"]] = item
    return out


def build_spec(raw: dict[str, Any]) -> dict[str, Any]:
    """Return the compact spec built from the full api.min.json document."""
    methods: dict[str, Any] = {}
    returns: dict[str, list[str]] = {}
    for name, method in sorted(raw["methods"].items()):
        methods[name] = _fields(method.get("fields", []), subtype=False)
        returns[name] = list(method.get("returns", []))
    types: dict[str, Any] = {}
    subtypes: dict[str, list[str]] = {}
    for name, type_ in sorted(raw["types"].items()):
        is_subtype = bool(type_.get("subtype_of"))
        types[name] = _fields(type_.get("fields", []), subtype=is_subtype)
        if type_.get("subtypes"):
            subtypes[name] = list(type_["subtypes"])
    return {
        "version": raw.get("version", ""),
        "release_date": raw.get("release_date", ""),
        "source": "PaulSonOfLars/telegram-bot-api-spec api.min.json (MIT), see LICENSE-spec",
        "methods": methods,
        "types": types,
        "returns": returns,
        "subtypes": subtypes,
    }


def main(argv: list[str] | None = None) -> int:
    """Write botapi_spec.json and LICENSE-spec next to this module."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m bot.apidouble.make_spec /path/to/api.min.json\n")
        return 2
    src = Path(args[0])
    raw = json.loads(src.read_text(encoding="utf-8"))
    spec = build_spec(raw)
    OUT_SPEC.write_text(
        json.dumps(spec, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n",
        encoding="utf-8",
    )
    licence = src.with_name("LICENSE")
    header = (
        "bot/apidouble/botapi_spec.json is derived from api.min.json "
        f"({spec['version']}, {spec['release_date']}) of the project\n"
        "https://github.com/PaulSonOfLars/telegram-bot-api-spec, which scrapes the\n"
        "Telegram Bot API documentation. That file is distributed under this licence:\n\n"
    )
    body = licence.read_text(encoding="utf-8") if licence.exists() else ""
    OUT_LICENSE.write_text(header + body, encoding="utf-8")
    sys.stderr.write(
        f"wrote {OUT_SPEC.name}: {len(spec['methods'])} methods, {len(spec['types'])} types\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
