"""Load the compact Bot API spec and check values against it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parent / "botapi_spec.json"

PRIMITIVES = frozenset({"Integer", "String", "Boolean", "Float"})
_INT_RE = re.compile(r"^[+-]?\d+$")
_TRUE = frozenset({"true", "True", "TRUE", "1"})
_FALSE = frozenset({"false", "False", "FALSE", "0"})


@dataclass(frozen=True)
class FieldSpec:
    """Describe one parameter of a method or one field of a type."""

    name: str
    required: bool
    types: tuple[str, ...]
    const: str | None = None


@dataclass(frozen=True)
class UploadedFile:
    """Hold one file part of a multipart request."""

    name: str
    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {len(self.data)} bytes)"


class CoercionError(ValueError):
    """Signal a parameter value that cannot be read as its declared type."""


class BotApiSpec:
    """Give typed access to methods, types and subtypes of the Bot API."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.version: str = str(raw.get("version", ""))
        self.methods: dict[str, dict[str, FieldSpec]] = {
            name: _to_fields(params) for name, params in raw["methods"].items()
        }
        self.types: dict[str, dict[str, FieldSpec]] = {
            name: _to_fields(fields) for name, fields in raw["types"].items()
        }
        self.returns: dict[str, tuple[str, ...]] = {
            name: tuple(ret) for name, ret in raw.get("returns", {}).items()
        }
        self.subtypes: dict[str, tuple[str, ...]] = {
            name: tuple(sub) for name, sub in raw.get("subtypes", {}).items()
        }
        self._lower = {name.lower(): name for name in self.methods}

    def canonical_method(self, name: str) -> str | None:
        """Return the documented spelling of a method name, matched case-insensitively."""
        return self._lower.get(name.lower())

    def concrete_types(self, type_name: str) -> list[str]:
        """Return the concrete types an abstract type may be (itself if not abstract)."""
        subs = self.subtypes.get(type_name)
        if not subs:
            return [type_name]
        out: list[str] = []
        for sub in subs:
            out.extend(self.concrete_types(sub))
        return out

    def check(self, value: Any, types: tuple[str, ...] | list[str], path: str) -> list[str]:
        """Return the problems of a JSON value declared with the given type alternatives."""
        if not types:
            return []
        best: list[str] | None = None
        for type_name in types:
            problems = self._check_one(value, type_name, path)
            if not problems:
                return []
            if best is None or len(problems) < len(best):
                best = problems
        return best or []

    def check_object(self, value: Any, type_name: str, path: str = "") -> list[str]:
        """Return the problems of an object that should be a `type_name`."""
        return self.check(value, (type_name,), path or type_name)

    def _check_one(self, value: Any, type_name: str, path: str) -> list[str]:
        if type_name.startswith("Array of "):
            inner = type_name[len("Array of ") :]
            if not isinstance(value, list):
                return [f"{path}: expected {type_name}, got {type(value).__name__}"]
            out: list[str] = []
            for i, item in enumerate(value):
                out.extend(self.check(item, (inner,), f"{path}[{i}]"))
            return out
        if type_name in PRIMITIVES:
            return _check_primitive(value, type_name, path)
        if type_name == "InputFile":
            # Uploads are validated where the request is decoded.
            return []
        if type_name not in self.types:
            return [f"{path}: unknown type {type_name}"]
        if not isinstance(value, dict):
            return [f"{path}: expected {type_name} object, got {type(value).__name__}"]
        candidates = self.concrete_types(type_name)
        best: list[str] | None = None
        for candidate in candidates:
            problems = self._check_fields(value, candidate, path)
            if not problems:
                return []
            if best is None or len(problems) < len(best):
                best = problems
        return best or []

    def _check_fields(self, value: dict[str, Any], type_name: str, path: str) -> list[str]:
        fields = self.types[type_name]
        if not fields:
            # Placeholder types such as CallbackGame have no documented fields.
            return []
        out: list[str] = []
        for name, field in fields.items():
            if name not in value:
                if field.required:
                    out.append(f"{path}: {type_name} lacks required field {name!r}")
                continue
            if field.const is not None and value[name] != field.const:
                out.append(f"{path}.{name}: {type_name} needs {field.const!r}")
                continue
            out.extend(self.check(value[name], field.types, f"{path}.{name}"))
        for name in value:
            if name not in fields:
                out.append(f"{path}: {name!r} is not a field of {type_name}")
        return out


def _check_primitive(value: Any, type_name: str, path: str) -> list[str]:
    ok = {
        "Integer": isinstance(value, int) and not isinstance(value, bool),
        "Float": isinstance(value, int | float) and not isinstance(value, bool),
        "String": isinstance(value, str),
        "Boolean": isinstance(value, bool),
    }[type_name]
    return [] if ok else [f"{path}: expected {type_name}, got {value!r}"]


def _to_fields(raw: dict[str, dict[str, Any]]) -> dict[str, FieldSpec]:
    return {
        name: FieldSpec(
            name=name,
            required=bool(item.get("required")),
            types=tuple(item.get("types", ())),
            const=item.get("const"),
        )
        for name, item in raw.items()
    }


@lru_cache(maxsize=1)
def load_spec() -> BotApiSpec:
    """Load the packaged botapi_spec.json (cached)."""
    return BotApiSpec(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


def coerce(
    field: FieldSpec,
    raw: Any,
    attachments: dict[str, UploadedFile],
) -> Any:
    """Convert a decoded request value into the Python value its declared types describe."""
    types = field.types
    if isinstance(raw, UploadedFile):
        if "InputFile" in types:
            return raw
        raise CoercionError(f"{field.name}: a file was uploaded where {types} is expected")
    if "InputFile" in types and isinstance(raw, str) and raw.startswith("attach://"):
        part = attachments.get(raw[len("attach://") :])
        if part is None:
            raise CoercionError(f"{field.name}: no multipart part for {raw}")
        return part
    errors: list[str] = []
    # Try the declared alternatives in an order that keeps "Integer or String" numeric.
    for type_name in sorted(types, key=_coerce_priority):
        try:
            return _coerce_one(type_name, raw)
        except CoercionError as exc:
            errors.append(str(exc))
    raise CoercionError(f"{field.name}: " + "; ".join(errors))


def _coerce_priority(type_name: str) -> int:
    order = {"InputFile": 5, "Integer": 0, "Float": 1, "Boolean": 2, "String": 4}
    return order.get(type_name, 3)


def _coerce_one(type_name: str, raw: Any) -> Any:
    if type_name == "Integer":
        if isinstance(raw, bool):
            raise CoercionError(f"expected Integer, got {raw!r}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and _INT_RE.match(raw.strip()):
            return int(raw.strip())
        raise CoercionError(f"expected Integer, got {raw!r}")
    if type_name == "Float":
        if isinstance(raw, bool):
            raise CoercionError(f"expected Float, got {raw!r}")
        if isinstance(raw, int | float):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
        raise CoercionError(f"expected Float, got {raw!r}")
    if type_name == "Boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw in _TRUE:
            return True
        if isinstance(raw, str) and raw in _FALSE:
            return False
        raise CoercionError(f"expected Boolean, got {raw!r}")
    if type_name == "String":
        if isinstance(raw, str):
            return raw
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return str(raw)
        raise CoercionError(f"expected String, got {raw!r}")
    if type_name == "InputFile":
        raise CoercionError("expected an uploaded file")
    # Arrays and objects travel as JSON strings in form bodies.
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise CoercionError(f"expected JSON for {type_name}: {exc}") from None
    if type_name.startswith("Array of "):
        if not isinstance(value, list):
            raise CoercionError(f"expected {type_name}, got {type(value).__name__}")
        return value
    if not isinstance(value, dict):
        raise CoercionError(f"expected {type_name} object, got {type(value).__name__}")
    return value
