"""The scope enforcement corpus (tests/fixtures/scope_corpus/corpus.toml) through the real proxy, over real sockets
to the project's demo FHIR server (HAPI-style ``next`` links on the base): every case, in each FHIR version,
under every scope set of the unit corpus (tests/unit/proxy/test_scope_corpus.py). A case is *allowed* when it
reaches the provider; it must be allowed exactly when its hand-written needs are granted.

Paging cases run their first page against the demo provider and follow the ``next`` links the gateway signed to
the last page; the paging attacks change those real links (a type added, another page id, another tenant or
client, expired, forged, the token not last). The demo provider has no system search, so a page of one cannot be
had: those cases are counted and named, and their first pages still judged.

Then the same cases from DSTU2 and STU3 clients on an R4 route (bridged): nothing the needs do not grant reaches
the provider; what they grant reaches it, unless the bridge itself cannot serve the case (a write, a type or
parameter R4 cannot be asked for), which it then refuses the same way whatever the scopes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from devtools.demo_provider.data import DEMO_PATIENT_ID
from gateway.outbound.transport import AiohttpTransport, UpstreamRequest, UpstreamResponse
from gateway.proxy import page_links
from gateway.scopes import SmartScopes
from gateway.services import Services
from gateway.stores.models import Client, Route
from tests.support.constants import GW, TENANT_A, TENANT_B
from tests.support.fhir import request
from tests.support.surfaces import proxy
from tests.unit.proxy.test_scope_corpus import build, cases_of, expected, scope_sets

pytestmark = pytest.mark.integration

CLIENT = "corpus-client"
OTHER_CLIENT = "corpus-other-client"
WIDE = "everything"
REFERENCE_CLIENT = ("_sort:desc=date&category=vital-signs", "Condition?patient=39&_count=10", "Coverage?patient=",
                    "AllergyIntolerance?patient=", "POST Patient/_search")


class Recording:
    """The real transport, counting what reaches the provider."""

    def __init__(self, inner: AiohttpTransport) -> None:
        self.inner = inner
        self.sent = 0

    async def send(self, sent: UpstreamRequest) -> UpstreamResponse:
        self.sent += 1
        return await self.inner.send(sent)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Answer:
    forwarded: bool
    status: int
    document: Any

    @property
    def diagnostics(self) -> str:
        issues = self.document.get("issue") if isinstance(self.document, dict) else None
        return issues[0].get("diagnostics", "") if issues else ""

    def next_link(self) -> str | None:
        links = self.document.get("link", []) if isinstance(self.document, dict) else []
        return next((link["url"] for link in links if link.get("relation") == "next"), None)


@dataclass
class Stack:
    """One route to the demo provider (``provider_version``) for the client bases of ``client_version``."""

    services: Services
    transport: Recording
    client_version: str
    clock: Any
    tokens: dict[tuple[str, str, str], str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{GW}/{self.client_version}"

    async def token(self, scopes: str, *, client: str = CLIENT, tenant: str = TENANT_A) -> str:
        key = (scopes, client, tenant)
        if key not in self.tokens:
            claim = f"{tenant} {SmartScopes.parse(scopes)}"
            self.tokens[key] = (await self.services.token_issuer.issue(client_id=client, tenant_id=tenant,
                                                                       scope=claim)).access_token
        return self.tokens[key]

    async def send(self, method: str, url: str, token: str, *, body: bytes = b"", content_type: str = "",
                   if_none_exist: str | None = None) -> Answer:
        headers = [("Accept", "application/fhir+json")]
        if content_type:
            headers.append(("Content-Type", content_type))
        if if_none_exist is not None:
            headers.append(("If-None-Exist", if_none_exist))
        before = self.transport.sent
        response = await proxy(request(method, url, token, body=body, headers=headers), self.services)
        try:
            document = json.loads(response.body) if response.body else None
        except ValueError:
            document = None
        return Answer(self.transport.sent > before, response.status, document)

    async def case(self, case: dict[str, Any], scopes: str, *, line: str | None = None, first_page: bool = False,
                   token: str | None = None) -> Answer:
        built = build(line or case["request"], case if not first_page else
                      ({"body": case["page_body"]} if "page_body" in case else {}))
        body = built.body.replace(b"http://localhost:7071/fhir/", f"{self.base}/".encode())
        url = f"{self.base}/{built.path}" + (f"?{built.query}" if built.query else "")
        return await self.send(built.method, url, token or await self.token(scopes), body=body,
                               content_type=built.content_type, if_none_exist=built.if_none_exist)


async def stack_of(services: Services, clock, demo_provider, client_version: str, provider_version: str) -> Stack:
    for client in (CLIENT, OTHER_CLIENT):
        await services.clients.create(Client(client_id=client, display_name=client,
                                             allowed_tenants=(TENANT_A, TENANT_B), allowed_scopes="system/*.cruds"))
    for tenant in (TENANT_A, TENANT_B):
        await services.routes.create(Route(tenant_id=tenant, fhir_base_url=demo_provider.base(f"/{provider_version}"),
                                           fhir_version=provider_version.upper(), allow_writes=True))
    transport = Recording(AiohttpTransport(services.settings))
    services.use_transport(transport)  # type: ignore[arg-type]
    return Stack(services, transport, client_version, clock)


# -- the first page of a paging case, as the demo provider can page it ---------------------------------------------

def first_page_line(case: dict[str, Any]) -> str:
    """The case's first page on the demo data: its patient (or every man), two entries a page (so that there are
    pages). The needs stay the same: the same parameters of the same types."""
    line = case["page_of"].replace("patient=1&", f"patient={DEMO_PATIENT_ID}&").replace("name=x", "gender=male")
    line = re.sub(r"patient=1$", f"patient={DEMO_PATIENT_ID}", line)
    if "_count=" not in line:
        line += ("&" if "?" in line else "?") + "_count=2"
    return line


def socket_page_case(case: dict[str, Any]) -> dict[str, Any]:
    """A POST search's first page asks for more than one patient (the needs are the same: Patient.s)."""
    return {**case, "page_body": "gender=male"} if "page_body" in case else case


def variant(link: str, kind: str, case: dict[str, Any]) -> str:
    """The signed ``link`` as the case's attack changes it."""
    head, _, last = link.rpartition("&")
    assert last.startswith(f"{page_links.PAGE_PARAMETER}="), link
    if kind == "tampered" and "_type=" in case["request"]:
        return f"{head}&_type=Patient&{last}"
    if kind == "tampered":
        return f"{re.sub(r'_getpages=([^&]+)', r'_getpages=\1x', head)}&{last}"
    if kind == "forged":
        token = last.split("=", 1)[1].split(".")
        token[1] = "20261201000000-00000000000000bb"
        return f"{head}&{page_links.PAGE_PARAMETER}={'.'.join(token)}"
    if kind == "not-last":
        return f"{link}&_count=2"
    return link


async def follow(stack: Stack, case: dict[str, Any], scopes: str, want: bool) -> tuple[list[str], int]:
    """The paging case under ``scopes``: wrong decisions, and the pages walked (0: no page link to follow; -1: the
    bridge does not serve the first page)."""
    wrong: list[str] = []
    page_case = socket_page_case(case)
    line = first_page_line(case)
    wide = await stack.case(page_case, WIDE, line=line, first_page=True, token=await stack.token("system/*.cruds"))
    if not wide.forwarded:
        return wrong, -1  # a first page the bridge does not serve (e.g. a chain): refused whatever the scopes
    if case.get("kind", "legitimate") == "legitimate":  # its needs are the first page's (an attack's: the link's)
        mine = await stack.case(page_case, scopes, line=line, first_page=True)
        if mine.forwarded != expected(case["needs"], scopes):
            wrong.append(f"first page {line}")
    link = wide.next_link()
    if link is None:
        return wrong, 0
    kind = case.get("token", "valid")
    token = await stack.token(scopes, client=OTHER_CLIENT if kind == "other-client" else CLIENT,
                              tenant=TENANT_B if kind == "other-tenant" else TENANT_A)
    if kind == "expired":
        stack.clock.advance(stack.services.settings.token_lifetime_seconds + 60)
        stack.tokens.clear()
        token = await stack.token(scopes)
    answer = await stack.send("GET", variant(link, kind, case), token)
    if answer.forwarded != want:
        wrong.append(f"{kind} link")
    pages = 1
    while want and kind == "valid" and answer.forwarded and (link := answer.next_link()) is not None:
        assert answer.status == 200 and link.startswith(stack.base), link
        answer = await stack.send("GET", link, token)
        pages += 1
        if not answer.forwarded:
            wrong.append(f"page {pages}")
    if kind == "expired":
        stack.tokens.clear()
    return wrong, pages


# -- same version -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["DSTU2", "STU3", "R4"])
async def test_the_corpus_through_the_proxy_to_the_demo_provider(services, clock, demo_provider, version):
    stack = await stack_of(services, clock, demo_provider, version, version.lower())
    false_refusals, false_allows, unexercised, walked = [], [], set(), Counter()
    for case in cases_of(version):
        for name, scopes in scope_sets(version).items():
            want = expected(case["needs"], scopes)
            if "page_of" in case:
                wrong, pages = await follow(stack, case, scopes, want)
                if pages == 0:
                    unexercised.add(case["page_of"])
                if want and case.get("token", "valid") == "valid":
                    walked[case["page_of"]] = max(walked[case["page_of"]], pages)
                (false_refusals if want else false_allows).extend(f"{case['request']} {w} [{name}]" for w in wrong)
                continue
            got = (await stack.case(case, scopes)).forwarded
            if want and not got:
                false_refusals.append(f"{case['request']} [{name}]")
            elif got and not want:
                false_allows.append(f"{case['request']} [{name}]")
    assert (false_refusals, false_allows) == ([], [])
    # Only system searches cannot be paged here (the demo provider answers them 400); every other paging case was
    # followed through real next links, the legitimate ones to their last page.
    system_searches = {c["page_of"] for c in cases_of(version) if c.get("page_of", "").startswith("GET ?")}
    assert unexercised == system_searches
    assert {line: pages for line, pages in walked.items() if line not in unexercised and pages < 2} == {}


# -- bridged: DSTU2 and STU3 clients on an R4 route -------------------------------------------------------------

@pytest.mark.parametrize("version", ["DSTU2", "STU3"])
async def test_the_corpus_through_the_bridge_to_the_demo_providers_r4_base(services, clock, demo_provider, version):
    stack = await stack_of(services, clock, demo_provider, version, "r4")
    false_refusals, false_allows, served = [], [], Counter()
    bridge_refused: dict[str, tuple[int, str]] = {}
    for case in cases_of(version):
        if "page_of" in case:
            continue  # below
        wide = await stack.case(case, "system/*.cruds")
        if not wide.forwarded and expected(case["needs"], "system/*.cruds"):
            bridge_refused[case["request"]] = (wide.status, wide.diagnostics)  # the bridge does not serve it
        for name, scopes in scope_sets(version).items():
            want = expected(case["needs"], scopes)
            answer = await stack.case(case, scopes)
            if answer.forwarded and not want:
                false_allows.append(f"{case['request']} [{name}]")
            elif want and not answer.forwarded and case["request"] not in bridge_refused:
                false_refusals.append(f"{case['request']} [{name}]")
            elif want and answer.forwarded:
                served[case.get("kind", "legitimate")] += 1
    paged = Counter()
    for case in (c for c in cases_of(version) if "page_of" in c):
        for name, scopes in scope_sets(version).items():
            want = expected(case["needs"], scopes)
            wrong, pages = await follow(stack, case, scopes, want)
            if want and case.get("token", "valid") == "valid":
                paged[case["page_of"]] = max(paged[case["page_of"]], pages)
            (false_refusals if want else false_allows).extend(f"{case['request']} {w} [{name}]" for w in wrong)
    assert (false_refusals, false_allows) == ([], [])
    assert served["legitimate"] >= 300, served  # case x scope set pairs the bridge served and the scopes allowed
    for request_line, (status, diagnostics) in bridge_refused.items():
        assert status in (400, 403, 404, 406), (request_line, status)
        assert ("read-only" in diagnostics or "cannot be" in diagnostics or "converts JSON" in diagnostics), (
            request_line, diagnostics)
    assert {line for line, pages in paged.items() if pages < 2} == {
        line for line in paged if line.startswith("GET ?") or "patient.identifier" in line}  # system search, chain
    served_lines = {c["request"] for c in cases_of(version) if c["request"] not in bridge_refused}
    for reference in REFERENCE_CLIENT:  # the reference client's requests are all served
        assert any(reference in line for line in served_lines), reference
