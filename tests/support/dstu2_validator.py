"""Strict DSTU2 (1.0.2) validation with SMART's ``fhirclient`` 1.0.6 models, run in ``.venv-dstu2``.

Reads one JSON document per line on stdin and answers one JSON line per document on stdout:
``{"ok": true}`` or ``{"ok": false, "error": "..."}``. Started once per test session by
:class:`tests.support.validators.Dstu2Validator`; it imports nothing from the project.
"""

import json
import sys

from fhirclient.models import fhirelementfactory
from fhirclient.models.fhirabstractbase import FHIRValidationError


def validate(document: dict) -> str | None:
    kind = document.get("resourceType")
    model = fhirelementfactory.FHIRElementFactory.instantiate(kind, None)
    if type(model).__name__ != kind:
        return f"unknown DSTU2 resource type {kind!r}"
    try:
        type(model)(document, strict=True)
    except FHIRValidationError as exc:
        return str(exc)
    return None


def main() -> None:
    for line in sys.stdin:
        try:
            error = validate(json.loads(line))
        except Exception as exc:  # noqa: BLE001 - a model crash is a failed validation, reported to the test
            error = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"ok": error is None, "error": error}), flush=True)


if __name__ == "__main__":
    main()
