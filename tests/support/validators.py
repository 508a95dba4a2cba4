"""Strict validators of converted documents: STU3 with fhir.resources' STU3 models, DSTU2 with fhirclient 1.0.6
in its own venv (``.venv-dstu2``, made by ``make dstu2-validator``), R4 with fhir.resources' R4B models (the
resources the bridge converts have the same elements in R4 and R4B)."""

from __future__ import annotations

import importlib
import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DSTU2_PYTHON = ROOT / ".venv-dstu2" / "bin" / "python"
DSTU2_SCRIPT = Path(__file__).with_name("dstu2_validator.py")


def _model(package: str, resource_type: str) -> Any:
    module = importlib.import_module(f"fhir.resources.{package}.{resource_type.lower()}")
    return getattr(module, resource_type)


def validate_stu3(document: dict[str, Any]) -> None:
    """Raise (pydantic's ValidationError) unless ``document`` is a valid STU3 resource."""
    _model("STU3", document["resourceType"]).model_validate(document, strict=False)


def validate_r4(document: dict[str, Any]) -> None:
    """Raise unless ``document`` is valid under the R4B models (R4's elements for the bridged types)."""
    _model("R4B", document["resourceType"]).model_validate(document, strict=False)


class Dstu2Validator:
    """One ``fhirclient`` 1.0.6 process for the whole session; :meth:`errors` validates a batch of documents."""

    def __init__(self) -> None:
        if not DSTU2_PYTHON.exists():
            raise RuntimeError(f"{DSTU2_PYTHON} is missing: run `make dstu2-validator` (part of `make test`)")
        self._process = subprocess.Popen([str(DSTU2_PYTHON), str(DSTU2_SCRIPT)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1)

    def errors(self, documents: list[dict[str, Any]]) -> list[str | None]:
        """One entry per document: None when valid, else the validator's message."""
        assert self._process.stdin is not None and self._process.stdout is not None
        for document in documents:
            self._process.stdin.write(json.dumps(document) + "\n")
        self._process.stdin.flush()
        answers = [json.loads(self._process.stdout.readline()) for _ in documents]
        return [None if answer["ok"] else answer["error"] for answer in answers]

    def check(self, document: dict[str, Any]) -> None:
        error = self.errors([document])[0]
        assert error is None, error

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(10)
