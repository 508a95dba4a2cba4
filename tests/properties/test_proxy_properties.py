"""The FHIR proxy under hostile input: bearer tokens, paths and query
strings, Bundles posted to the base.

In-process against ``gateway.proxy.forward.proxy`` on the in-memory stores, with a recording
``MockTransport`` as the provider. Properties: never an unhandled exception or a 5xx the gateway
made up (a 503 only when a store is switched off), every error an OperationOutcome, a refused
request never reaches the provider, what does reach it never leaves the route's base, and the
stores are untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import posixpath
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from gateway.clock import FakeClock
from gateway.http import Headers, Request
from gateway.outbound.transport import MockTransport, UpstreamRequest, UpstreamResponse
from gateway.proxy.access import BadBatch, parse_batch
from gateway.proxy.batch import MAX_FANOUT_ENTRIES
from gateway.proxy.paths import PathRejected, check_path
from gateway.proxy.urls import upstream_url
from gateway.services import Services, memory_services
from gateway.stores.models import Client, Route
from tests.fixtures.common import make_settings
from tests.properties.support import HOSTILE_JSON_BODIES, examples, json_bytes, json_values, store_state
from tests.support.constants import GW, PROVIDER, TENANT
from tests.support.surfaces import proxy

FANOUT_TENANT = "0d6a5a4e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"  # read-only, batches fanned out by the gateway
CLIENT = "teams"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Provider:
    """The provider stand-in: records what reached it; its answer can be changed per example."""

    def __init__(self) -> None:
        self.body = json.dumps({"resourceType": "Bundle", "type": "searchset",
                                "link": [{"relation": "self", "url": f"{PROVIDER}/Patient"}]}).encode()
        self.transport = MockTransport(self.answer)

    def answer(self, request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(200, [("Content-Type", "application/fhir+json")], self.body, "OK")

    @property
    def requests(self) -> list[UpstreamRequest]:
        return self.transport.requests


@dataclass
class Gateway:
    services: Services
    provider: Provider
    token: str
    fanout_token: str

    def request(self, method: str, url: str, *, token: str | None = None, headers: list[tuple[str, str]] = (),
                body: bytes = b"", route_path: str | None = None) -> Request:
        hdrs = Headers([("X-Forwarded-For", "203.0.113.9:4000")])
        if token is not None:
            hdrs.add("Authorization", f"Bearer {token}")
        for name, value in headers:
            hdrs.add(name, value)
        if route_path is None:  # what the host's {*path} parameter holds: the decoded path
            path = urlsplit(url).path
            route_path = unquote(path[len("/fhir/"):]) if path.startswith("/fhir/") else ""
        return Request(method=method, url=url, headers=hdrs, body=body, route_params={"path": route_path})


@pytest.fixture
def gateway(loop) -> Gateway:
    async def build() -> Gateway:
        services = memory_services(make_settings(), FakeClock())
        await services.clients.create(Client(client_id=CLIENT, display_name="Teams",
                                             allowed_tenants=(TENANT, FANOUT_TENANT)))
        await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version="STU3"))
        await services.routes.create(Route(tenant_id=FANOUT_TENANT, fhir_base_url=PROVIDER, fhir_version="STU3",
                                           batch_mode="fanout"))
        provider = Provider()
        services.use_transport(provider.transport)
        token = (await services.token_issuer.issue(client_id=CLIENT, tenant_id=TENANT)).access_token
        fanout = (await services.token_issuer.issue(client_id=CLIENT, tenant_id=FANOUT_TENANT)).access_token
        return Gateway(services, provider, token, fanout)

    built = loop.run(build())
    yield built
    loop.run(built.services.aclose())


def call(loop, gw: Gateway, request: Request):
    """Run one request; check what every answer must be whatever was sent."""
    before = store_state(gw.services)
    gw.provider.requests.clear()
    response = loop.run(proxy(request, gw.services))
    assert response.status < 500 or response.status in (502, 504) and gw.provider.requests, response.body
    assert response.headers["X-Request-Id"]
    if response.status >= 400:
        outcome = json.loads(response.body)
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["diagnostics"]
        assert response.content_type.startswith("application/fhir+json")
        if response.status in (400, 401, 403, 404, 405, 413):
            assert gw.provider.requests == []  # refused before anything was sent
    assert store_state(gw.services) == before
    return response


# --------------------------------------------------------------------------- bearer tokens

def forged_header(fields: dict[str, Any]) -> str:
    return b64(json.dumps({k: v for k, v in fields.items() if v is not ...}).encode())


@st.composite
def presented_tokens(draw, real: str, kid: str, public_pem: bytes) -> str:
    head, payload, signature = real.split(".")
    choice = draw(st.integers(0, 8))
    if choice == 0:  # random characters, dots included
        return draw(st.text(B64URL + ".=+/ ", max_size=400))
    if choice == 1:  # random base64url segments
        return ".".join(draw(st.lists(st.text(B64URL, max_size=120), min_size=1, max_size=6)))
    if choice == 2:  # a valid-looking header with a random alg / kid / typ, the real claims and signature
        header = forged_header({
            "alg": draw(st.sampled_from(["ES256", "none", "None", "HS256", "RS256", "ES384", "PS256", "", "es256",
                                         None, 1, ...])),
            "kid": draw(st.sampled_from([kid, kid.upper(), kid + "x", "../" + kid, "", None, 7, [kid], ...])
                        | st.text(max_size=30)),
            "typ": draw(st.sampled_from(["at+jwt", "JWT", "application/at+jwt", "", None, ...])),
            "crit": draw(st.sampled_from([..., ["exp"], []])),
            "jku": draw(st.sampled_from([..., "https://evil.example/jwks"])),
        })
        return ".".join([header, payload, draw(st.sampled_from([signature, "", signature[:10]]))])
    if choice == 3:  # truncated or extended signature
        cut = draw(st.integers(0, len(signature)))
        return ".".join([head, payload, signature[:cut] + draw(st.text(B64URL, max_size=20))])
    if choice == 4:  # a header or payload segment that is not a JSON object
        junk = b64(json_bytes(draw(json_values(6))))
        return ".".join(draw(st.sampled_from([[junk, payload, signature], [head, junk, signature]])))
    if choice == 5:  # huge
        return real + draw(st.sampled_from(["", "."])) + "A" * draw(st.integers(4000, 70_000))
    if choice == 6:  # alg none / HS256 keyed with the public key (key confusion)
        header = forged_header({"alg": draw(st.sampled_from(["none", "HS256"])), "kid": kid, "typ": "at+jwt"})
        signing_input = f"{header}.{payload}".encode()
        mac = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}." + draw(st.sampled_from(["", b64(mac)]))
    if choice == 7:  # bytes that are not base64url at all
        return ".".join(draw(st.lists(st.text(max_size=40), min_size=3, max_size=3)))
    return real  # the real one still works


def auth_headers(token: str, scheme: str, repeat: bool) -> list[tuple[str, str]]:
    headers = [("Authorization", f"{scheme}{token}")]
    return headers * 2 if repeat else headers


@examples(150)
@given(data=st.data(), scheme=st.sampled_from(["Bearer ", "bearer ", "BEARER ", "Bearer  ", "Bearer\t", "Basic ",
                                               "Bearer", "", "Token "]), repeat=st.booleans())
def test_any_bearer_token_is_verified_or_refused_with_401(loop, gateway, data, scheme, repeat):
    ring = loop.run(gateway.services.key_ring.signing_key())
    public_pem = ring.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    token = data.draw(presented_tokens(gateway.token, ring.kid, public_pem))
    request = gateway.request("GET", f"{GW}/Patient/1", headers=auth_headers(token, scheme, repeat))
    response = call(loop, gateway, request)
    if response.status == 200:
        assert token.strip() == gateway.token and scheme.strip().lower() == "bearer"
    else:
        assert response.status == 401
        challenge = response.headers["WWW-Authenticate"]
        assert challenge.startswith("Bearer realm=") and challenge.isprintable()
        if len(token.strip()) >= 12:  # the token is never echoed
            assert token.strip() not in challenge and token.strip() not in response.body.decode()


claim_values = st.one_of(json_values(4), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308,
                                                           10**20, -(10**20), True, "1767225600"]))


@examples(100)
@given(changes=st.dictionaries(st.sampled_from(["iss", "aud", "sub", "client_id", "scope", "tid", "iat", "nbf",
                                                "exp", "jti", "extra"]), claim_values | st.just(...), max_size=4))
def test_signed_tokens_with_any_claims_never_break_the_proxy(loop, gateway, changes):
    """Defence in depth: even a token signed with the gateway's own key may carry any claim values."""
    key = loop.run(gateway.services.key_ring.signing_key())
    claims = jwt.decode(gateway.token, options={"verify_signature": False})
    for name, value in changes.items():
        if value is ...:
            claims.pop(name, None)
        else:
            claims[name] = value
    # PyJWS signs any payload bytes (jwt.encode would refuse some claim types before signing).
    token = jwt.PyJWS().encode(json.dumps(claims).encode(), key.private_key, algorithm="ES256",
                               headers={"kid": key.kid, "typ": "at+jwt"})
    response = call(loop, gateway, gateway.request("GET", f"{GW}/Patient/1", token=token))
    if response.status == 200:
        assert claims["tid"] == claims["scope"] == TENANT and claims["client_id"] == claims["sub"] == CLIENT
    else:
        assert response.status == 401


# --------------------------------------------------------------------------- paths and queries

SEGMENTS = ["Patient", "Observation", "123", "a-b.c", "_search", "_history", "$everything", "metadata", "", ".",
            "..", "...", "%2e", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%252e%252e", "%25252e", "..%2f", "%2f", "%2F",
            "%5c", "%5C..", "\\", "..\\..", "%00", "\x00", "%0d%0a", "\r\n", "é", "%c3%a9", "％２ｅ", "．．", "\u2025",
            "..;", ";", "Patient;x", "%c0%ae%c0%ae", "%c0%af", "%e0%80%ae", "..%00", "http:", "https://evil.example",
            "//evil.example", "@evil", "~root", "Patient:1", " ", "%20", "+", "a b", "\t", "#", "?", "😀", "\u202e",
            "A" * 70, "Patient" * 300]
path_strings = st.lists(st.sampled_from(SEGMENTS) | st.text(max_size=12), max_size=8).map("/".join)
query_strings = st.one_of(
    st.just(""),
    st.lists(st.tuples(st.sampled_from(["name", "name:contains", "_sort:desc", "_count", "patient", "_format", ""])
                       | st.text(max_size=10), st.text(max_size=20)), max_size=5)
    .map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
    st.sampled_from(["%00", "a=%0d%0a", "a=\x00", "a=\x7f", "a=%zz", "a=%", "a=b#frag", "a=" + "x" * 20_000,
                     "../../etc/passwd", "a=b&a=c&a=d", "a=é&b=😀", "a=%E9", "_format=xml"]),
)


def stays_under_base(url: str) -> bool:
    """The upstream URL names a resource inside the provider's base, however it is decoded."""
    parts = urlsplit(url)
    base = urlsplit(PROVIDER)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return False
    path = parts.path
    for _ in range(3):  # any number of decodings
        path = unquote(path)
    normalized = posixpath.normpath(path.replace("\\", "/"))
    return normalized == base.path or normalized.startswith(base.path + "/")


@examples(200)
@given(path=path_strings, query=query_strings, method=st.sampled_from(["GET", "HEAD", "GET", "DELETE"]))
def test_any_path_is_checked_before_the_provider_is_called(loop, gateway, path, query, method):
    url = GW + "/" + path + (f"?{query}" if query else "")
    response = call(loop, gateway, gateway.request(method, url, token=gateway.token))
    if not gateway.provider.requests:
        assert response.status in (400, 403, 405), response.status
        return
    (sent,) = gateway.provider.requests
    assert sent.method == method
    assert stays_under_base(sent.url), sent.url
    relative = sent.url[len(PROVIDER):].split("?", 1)[0].lstrip("/")
    checked = check_path(relative)  # what went out is a FHIR REST path, unchanged
    assert "%" not in checked.path and "\\" not in checked.path and ".." not in checked.path.split("/")
    assert all(0x21 <= ord(c) < 0x7F for c in sent.url)  # a valid request target


@examples(100)
@given(path=path_strings)
def test_path_checks_accept_only_paths_that_stay_under_the_base(path):
    try:
        checked = check_path(path)
    except PathRejected as exc:
        assert str(exc) and str(exc).isprintable()
        return
    assert checked.path == path
    assert stays_under_base(upstream_url(PROVIDER, checked.path))
    assert not any(s in ("", ".", "..") for s in path.split("/")) or path == ""


# --------------------------------------------------------------------------- Bundles posted to the base

METHODS = st.sampled_from(["GET", "HEAD", "get", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "", "G\x00ET"])
ENTRY_URLS = st.one_of(
    st.sampled_from(["Patient/1", "Observation?patient=1&_count=5", "Patient/../../admin", "%2e%2e/x", "/Patient/1",
                     f"{GW}/Patient/1", f"{GW}/../x", f"{PROVIDER}/Patient/1", "https://evil.example/Patient/1",
                     "Patient/1#frag", "", "?a=b", "Patient/1?a=\x00", "metadata", "_search", "Patient/$everything",
                     "Patient/1/_history/2", "Patient\\1", "Patient//1"]),
    path_strings,
)


@st.composite
def bundles(draw) -> bytes:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return json_bytes(draw(json_values(15)))
    if kind == 1:
        return draw(HOSTILE_JSON_BODIES)
    entry_request = st.fixed_dictionaries({}, optional={
        "method": METHODS | json_values(3), "url": ENTRY_URLS | json_values(3), "ifNoneMatch": st.text(max_size=5)})
    entry = st.one_of(
        st.fixed_dictionaries({"request": entry_request}, optional={"fullUrl": st.text(max_size=20),
                                                                     "resource": json_values(4)}),
        json_values(4))
    bundle: dict[str, Any] = {"resourceType": draw(st.sampled_from(["Bundle", "Bundle", "bundle", "Patient", 1]))}
    bundle["type"] = draw(st.sampled_from(["batch", "batch", "transaction", "searchset", "batch-response", None, 1]))
    if kind == 2:
        bundle["entry"] = draw(st.lists(entry, max_size=8) | json_values(4))
    elif kind == 3:  # many entries
        count = draw(st.integers(100, 3000))
        bundle["entry"] = [{"request": {"method": "GET", "url": f"Patient/{i}"}} for i in range(count)]
    else:  # valid reads, sometimes with one write hidden among them
        reads = [{"request": {"method": draw(st.sampled_from(["GET", "HEAD"])), "url": draw(ENTRY_URLS)}}
                 for _ in range(draw(st.integers(0, 6)))]
        if draw(st.booleans()):
            reads.insert(draw(st.integers(0, len(reads))), {"request": {"method": "DELETE", "url": "Patient/1"}})
        bundle["entry"] = reads
    return json_bytes(bundle)


@examples(120)
@given(body=bundles(), fanout=st.booleans(),
       content_type=st.sampled_from(["application/fhir+json", "application/json", "application/json+fhir",
                                     "application/fhir+json; charset=utf-8", "application/fhir+xml", "text/plain",
                                     ""]))
def test_any_bundle_posted_to_a_read_only_base(loop, gateway, body, fanout, content_type):
    token = gateway.fanout_token if fanout else gateway.token
    request = gateway.request("POST", GW, token=token, body=body, headers=[("Content-Type", content_type)],
                              route_path="")
    response = call(loop, gateway, request)
    try:
        batch = parse_batch(body, content_type, GW)
    except BadBatch:
        batch = None
        assert response.status == 400
    if response.status == 400:
        assert gateway.provider.requests == []
        return
    if response.status == 413:  # fan-out is bounded: one request never becomes thousands
        assert fanout and batch is not None and batch.read_only and len(batch.entries) > MAX_FANOUT_ENTRIES
        assert json.loads(response.body)["issue"][0]["code"] == "too-costly"
        return
    if not gateway.provider.requests and response.status == 200:  # an empty batch, run by the gateway
        assert fanout and batch is not None and batch.read_only and not batch.entries
        assert json.loads(response.body)["entry"] == []
        return
    if not gateway.provider.requests:
        assert response.status == 403  # a write on a read-only route
        assert batch is None or not batch.read_only
        return
    assert batch is not None and batch.read_only  # only a batch of reads went out
    assert response.status == 200
    if fanout:
        assert len(batch.entries) <= MAX_FANOUT_ENTRIES
        assert [r.method for r in gateway.provider.requests] == [e.method for e in batch.entries]
        assert all(stays_under_base(r.url) and r.body is None for r in gateway.provider.requests)
        answer = json.loads(response.body)
        assert answer["type"] == "batch-response" and len(answer["entry"]) == len(batch.entries)
    else:
        (sent,) = gateway.provider.requests
        assert sent.url == PROVIDER and sent.body == body


@examples(60)
@given(answer=HOSTILE_JSON_BODIES | st.binary(max_size=200) | json_values(10).map(json_bytes))
def test_fanned_out_batch_survives_any_provider_answer(loop, gateway, answer):
    gateway.provider.body = answer
    bundle = {"resourceType": "Bundle", "type": "batch",
              "entry": [{"request": {"method": "GET", "url": "Patient/1"}},
                        {"request": {"method": "GET", "url": "Observation?patient=1"}}]}
    request = gateway.request("POST", GW, token=gateway.fanout_token, body=json_bytes(bundle),
                              headers=[("Content-Type", "application/fhir+json")], route_path="")
    response = call(loop, gateway, request)
    assert response.status == 200
    entries = json.loads(response.body)["entry"]
    assert len(entries) == 2 and all(e["response"]["status"][:3].isdigit() for e in entries)


# --------------------------------------------------------------------------- request headers

HEADER_NAMES = ["Accept", "Content-Type", "If-Match", "If-None-Match", "Prefer", "Accept-Language", "Cookie",
                "X-Functions-Key", "Authorization", "Proxy-Authorization", "Connection", "Keep-Alive", "TE",
                "Transfer-Encoding", "Upgrade", "Host", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
                "X-Request-Id", "Forwarded", "X-MS-CLIENT-PRINCIPAL", "Content-Length", "Expect"]
FORWARDABLE = {"accept", "content-type", "if-match", "if-none-match", "if-modified-since", "if-none-exist", "prefer",
               "accept-language"}
GATEWAY_SET = {"x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "accept-encoding",
               "user-agent"}


@examples(150)
@given(headers=st.lists(st.tuples(st.sampled_from(HEADER_NAMES) | st.text(max_size=12),
                                  st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=60)
                                  | st.sampled_from(["accept, cookie", "If-Match", "close", "keep-alive, prefer"])),
                        max_size=8))
def test_only_allowed_headers_reach_the_provider(loop, gateway, headers):
    request = gateway.request("GET", f"{GW}/Patient/1", token=gateway.token, headers=headers)
    response = call(loop, gateway, request)
    assert response.status == 200
    request_id = response.headers["X-Request-Id"]
    assert 0 < len(request_id) <= 128 and all(c.isalnum() or c in "-_.:" for c in request_id)
    (sent,) = gateway.provider.requests
    sent_names = [name.lower() for name, _ in sent.headers]
    assert set(sent_names) <= FORWARDABLE | GATEWAY_SET
    connection = {t.strip().lower() for n, v in headers if n.lower() == "connection" for t in v.split(",")}
    assert not (set(sent_names) - GATEWAY_SET) & connection  # fields the client named hop-by-hop stay behind
    assert dict((n.lower(), v) for n, v in sent.headers)["x-forwarded-host"] == "localhost:7071"
    assert all(v != f"Bearer {gateway.token}" for _, v in sent.headers)


# --------------------------------------------------------------------------- outages

@pytest.mark.parametrize("store", ["clients", "routes", "secrets"])
def test_cold_cache_outage_is_a_documented_503_or_still_served(loop, store):
    """With nothing cached, an unreachable store is a 503 OperationOutcome with Retry-After (never a 500)."""
    async def build():
        services = memory_services(make_settings(), FakeClock())
        await services.clients.create(Client(client_id=CLIENT, display_name="T", allowed_tenants=(TENANT,)))
        await services.routes.create(Route(tenant_id=TENANT, fhir_base_url=PROVIDER, fhir_version="STU3"))
        token = (await services.token_issuer.issue(client_id=CLIENT, tenant_id=TENANT)).access_token
        fresh = memory_services(make_settings(), FakeClock())  # another worker: same stores, cold caches
        fresh = replace(fresh, routes=services.routes, clients=services.clients, secrets=services.secrets)
        provider = Provider()
        fresh.use_transport(provider.transport)
        return fresh, token, provider

    services, token, provider = loop.run(build())
    getattr(services, store).available = False
    headers = Headers([("Authorization", f"Bearer {token}")])
    request = Request("GET", f"{GW}/Patient/1", headers=headers, route_params={"path": "Patient/1"})
    response = loop.run(proxy(request, services))
    assert response.status == 503 and int(response.headers["Retry-After"]) >= 1
    assert json.loads(response.body)["resourceType"] == "OperationOutcome" and provider.requests == []
