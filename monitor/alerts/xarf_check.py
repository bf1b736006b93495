"""A XARF report as a receiving abuse desk checks it: the `xarf` package (the XARF project's
Python library) and the official XARF v4 JSON schemas it ships, applied with `jsonschema` and
format checking. Used by the simulated SMTP sink, the demo's figures and the tests; both
libraries are optional (test extras), so without them `valid` is None (not checked).

Strict mode of the `xarf` package makes every recommended field required; `strict_missing`
lists the fields it still asked for, which must be a subset of `xarf.NOT_SENT` (fields we must
not or cannot honestly send).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

_REQUIRED = re.compile(r"'([^']+)' is a required property")


@dataclass(frozen=True)
class XarfCheck:
    valid: bool | None  # schema-valid for jsonschema and the xarf package
    errors: tuple[str, ...] = ()
    strict_missing: tuple[str, ...] = ()  # recommended fields strict mode found missing
    strict_other: tuple[str, ...] = ()  # any other strict-mode error


@cache
def _schema_validator() -> Any:
    """A jsonschema validator of the official content/csam schema (shipped by `xarf`)."""
    # test extras (the receivers' view of our XARF): the sender never needs them
    import jsonschema
    from referencing import Registry, Resource

    root = resources.files("xarf") / "schemas"
    registry: Registry = Registry()
    schemas = {}
    for folder in (root, root / "types"):
        for entry in folder.iterdir():
            if entry.name.endswith(".json"):
                schema = json.loads(entry.read_text())
                schemas[entry.name] = schema
                registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    csam = schemas["content-csam.json"]
    cls = jsonschema.validators.validator_for(csam)
    return cls(csam, registry=registry, format_checker=cls.FORMAT_CHECKER)


def schema_errors(report: dict[str, Any]) -> list[str]:
    """What the official schemas (jsonschema, with format checks) reject in `report`."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(report)'}: {e.message}"
        for e in _schema_validator().iter_errors(report)
    ]


def check(report: dict[str, Any]) -> XarfCheck:
    try:
        import xarf  # a test extra, optional (see _schema_validator)

        errors = schema_errors(report)
    except ImportError:
        return XarfCheck(None)
    loose = xarf.parse(report)
    errors += [f"xarf: {e.field or '(report)'}: {e.message}" for e in loose.errors]
    strict = xarf.parse(report, strict=True)
    missing: list[str] = []
    other: list[str] = []
    for e in strict.errors:
        found = _REQUIRED.fullmatch(e.message)
        (missing if found else other).append(found.group(1) if found else f"{e.field}: {e.message}")
    return XarfCheck(not errors, tuple(errors), tuple(sorted(set(missing))), tuple(other))


def check_xarf(data: bytes) -> XarfCheck:
    """Check one attachment's bytes (JSON) as a XARF report."""
    try:
        report = json.loads(data)
    except ValueError:
        return XarfCheck(False, ("not JSON",))
    if not isinstance(report, dict):
        return XarfCheck(False, ("not a JSON object",))
    return check(report)
