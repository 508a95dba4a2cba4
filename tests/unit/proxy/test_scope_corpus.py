"""The scope enforcement corpus (tests/fixtures/scope_corpus/corpus.toml): every case, in every FHIR version it
applies to, under several scope sets, decided exactly as its hand-written needs say: no false refusal, no false
allow. Paging cases follow next links the gateway signed (gateway.proxy.page_links) for the first page."""

from __future__ import annotations

import json
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.proxy import page_links
from gateway.proxy.access import parse_batch
from gateway.proxy.paths import check_path
from gateway.proxy.scope_check import ScopeRefused, check_scopes, needed_permissions
from gateway.proxy.urls import normalize_query
from gateway.scopes import SmartScopes
from tests.support.constants import GW, OTHER_TENANT, TENANT

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "scope_corpus" / "corpus.toml"
CASES: list[dict[str, Any]] = tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]
VERSIONS = ("DSTU2", "STU3", "R4")
FORM = "application/x-www-form-urlencoded"
CLIENT = "backend-app"
NOW = 1_900_000_000
V1 = {"read": "rs", "write": "cud", "*": "cruds"}


def medication(version: str) -> str:
    return "MedicationOrder" if version == "DSTU2" else "MedicationRequest"


def scope_sets(version: str) -> dict[str, str]:
    med = medication(version)
    us_core = " ".join(f"system/{t}.rs" for t in (
        "Patient", "Observation", "Encounter", "Condition", "AllergyIntolerance", med, "Medication", "Location",
        "Practitioner", "Organization", "Coverage", "Procedure", "DiagnosticReport", "Immunization", "Provenance",
        "CarePlan", "Goal", "DocumentReference", "Device"))
    return {"default system/*.rs": "system/*.rs", "everything": "system/*.cruds", "US Core types": us_core,
            "one type": "system/Patient.rs",
            "v1 forms": "system/Patient.read system/Observation.read system/Encounter.read system/Location.read",
            "search without read": "system/Observation.s system/Patient.r",
            "with Group": "system/Group.rs system/Patient.rs system/Observation.rs system/Encounter.rs",
            "writes": "system/Patient.cruds system/Observation.cud",
            "other types": "system/Practitioner.rs system/Organization.rs"}


def granted(scopes: str) -> dict[str, set[str]]:
    """The scope string read independently of gateway.scopes: type -> letters."""
    letters: dict[str, set[str]] = {}
    for token in scopes.split():
        kind, permissions = re.fullmatch(r"system/([A-Za-z]+|\*)\.([a-z]+|\*)", token).groups()
        letters.setdefault(kind, set()).update(V1.get(permissions, permissions))
    return letters


def expected(needs: str, scopes: str) -> bool:
    """Whether the hand-written needs are all granted by ``scopes``."""
    if needs == "refused":
        return False
    have = granted(scopes)
    for need in needs.split():
        kind, letter = need.rsplit(".", 1)
        letters = have.get("*", set()) | (have.get(kind, set()) if kind != "*" else set())
        if not (letters & {"r", "s"} if letter == "i" else letter in letters):
            return False
    return True


class Keys:
    def __init__(self, kid: str = "20261201000000-00000000000000aa") -> None:
        self.kid = kid

    def signing_key(self) -> tuple[str, bytes]:
        return self.kid, b"k" * 32

    def verifying_key(self, kid: str) -> bytes | None:
        return b"k" * 32 if kid == self.kid else None


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: bytes = b""
    content_type: str = ""
    if_none_exist: str | None = None


def substitute(value: Any, version: str) -> Any:
    if isinstance(value, str):
        return value.replace("{MED}", medication(version))
    if isinstance(value, list):
        return [substitute(v, version) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, version) for k, v in value.items()}
    return value


def build(line: str, case: dict[str, Any], body_key: str = "body") -> Request:
    method, _, target = line.partition(" ")
    path, _, query = target.partition("?")
    request = Request(method, path, normalize_query(query), content_type=case.get("content_type", ""),
                      if_none_exist=case.get("if_none_exist"))
    if "entries" in case and body_key == "body":
        request.body = json.dumps({"resourceType": "Bundle", "type": case.get("kind_of_bundle", "batch"),
                                   "entry": [{"request": {k: v for k, v in e.items() if k != "resource"},
                                              **({"resource": e["resource"]} if "resource" in e else {})}
                                             for e in case["entries"]]}).encode()
        request.content_type = request.content_type or "application/fhir+json"
    elif body_key in case:
        request.body = case[body_key].encode()
        request.content_type = request.content_type or FORM
    return request


def first_page_needs(case: dict[str, Any], version: str) -> list:
    first = build(case["page_of"], {"body": case["page_body"]} if "page_body" in case else {})
    return needed_permissions(first.method, check_path(first.path), first.query, body=first.body,
                              content_type=first.content_type, fhir_version=version)


def with_page_token(case: dict[str, Any], version: str, request: Request) -> Request:
    """The request as the client follows the link the gateway handed out for the first page."""
    kind = case.get("token", "valid")
    signed = build(case.get("signed", case["request"]), {}).query
    tenant = OTHER_TENANT if kind == "other-tenant" else TENANT
    client = "another-client" if kind == "other-client" else CLIENT
    expires = NOW - 1 if kind == "expired" else NOW + 3600
    keys = Keys("20261201000000-00000000000000bb") if kind == "forged" else Keys()
    token = page_links.sign(keys, continuation="?" + signed, tenant=tenant, client_id=client,
                            needs=first_page_needs(case, version), expires=expires)
    suffix = f"{page_links.PAGE_PARAMETER}={token}" + ("&_count=2" if kind == "not-last" else "")
    request.query = f"{request.query}&{suffix}" if request.query else suffix
    return request


def decide(case: dict[str, Any], version: str, scopes: str) -> bool:
    request = build(case["request"], case)
    if "page_of" in case:
        request = with_page_token(case, version, request)
    path = check_path(request.path)
    batch = parse_batch(request.body, request.content_type, GW) if request.method == "POST" and path.is_base \
        else None

    def verify(token: str, continuation: str) -> list:
        return list(page_links.verify(Keys(), token, continuation=continuation, tenant=TENANT, client_id=CLIENT,
                                      now=NOW))

    try:
        check_scopes(SmartScopes.parse(scopes), request.method, path, request.query, body=request.body,
                     content_type=request.content_type, batch=batch, if_none_exist=request.if_none_exist,
                     fhir_version=version, verify_page=verify)
    except ScopeRefused:
        return False
    return True


def cases_of(version: str) -> list[dict[str, Any]]:
    chosen = [substitute(c, version) for c in CASES if version in c.get("only", VERSIONS)]
    for case in chosen:
        case["needs"] = case.get(f"needs_{version}", case.get("needs"))
        assert case["needs"] is not None, case["request"]
    return chosen


@pytest.mark.parametrize("version", VERSIONS)
def test_the_corpus_has_enough_legitimate_and_refused_requests(version):
    kinds = Counter(case.get("kind", "legitimate") for case in cases_of(version))
    assert kinds["legitimate"] >= 70 and kinds["attack"] >= 20, kinds


@pytest.mark.parametrize("version", VERSIONS)
def test_every_case_is_decided_as_its_needs_say_under_every_scope_set(version):
    false_refusals, false_allows = [], []
    for case in cases_of(version):
        for name, scopes in scope_sets(version).items():
            want, got = expected(case["needs"], scopes), decide(case, version, scopes)
            if want and not got:
                false_refusals.append(f"{case['request']} [{name}]")
            elif got and not want:
                false_allows.append(f"{case['request']} [{name}]")
    assert (false_refusals, false_allows) == ([], [])


def exact_scope_sets(needs: str) -> list[str]:
    """Scope sets cut to the case: exactly its needs (``i`` granted as r, then as s), and its needs less one
    letter each (so every need is shown to be needed, and all of them enough)."""
    if needs in ("", "refused"):
        return []
    tokens = needs.split()

    def scopes(chosen: list[str], included_as: str) -> str:
        letters: dict[str, set[str]] = {}
        for token in chosen:
            kind, letter = token.rsplit(".", 1)
            letters.setdefault(kind, set()).add(included_as if letter == "i" else letter)
        return " ".join(f"system/{k}.{''.join(sorted(v, key='cruds'.index))}" for k, v in letters.items()) \
            or "system/Basic.r"

    return [scopes(tokens, "r"), scopes(tokens, "s"),
            *(scopes(tokens[:i] + tokens[i + 1:], "r") for i in range(len(tokens)))]


@pytest.mark.parametrize("version", VERSIONS)
def test_each_need_is_needed_and_the_needs_together_are_enough(version):
    wrong = []
    for case in cases_of(version):
        for scopes in exact_scope_sets(case["needs"]):
            if expected(case["needs"], scopes) != decide(case, version, scopes):
                wrong.append(f"{case['request']} [{scopes}]")
    assert wrong == []


@pytest.mark.parametrize("version", VERSIONS)
def test_every_legitimate_case_is_allowed_somewhere_and_every_attack_refused_somewhere(version):
    """The scope sets exercise each case both ways (a case no set refuses would test nothing of its needs)."""
    for case in cases_of(version):
        outcomes = {expected(case["needs"], scopes) for scopes in scope_sets(version).values()}
        if case.get("kind", "legitimate") == "legitimate":
            assert True in outcomes, case["request"]
        if case["needs"] not in ("", "*.s *.r", "*.r *.s"):
            assert False in outcomes, case["request"]
