"""Hostile input through the local Functions host over real sockets (Azurite, the Key Vault emulator,
the recording provider stand-in): tokens, path traversal in every encoding, forged Host and
forwarding headers, oversized and slow requests, token endpoint brute force, the kill switch."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.fixtures.leaks import register_sensitive
from tests.fixtures.provider import connect
from tests.security import rawhttp
from tests.security.forge import hostile_tokens
from tests.support.constants import BASE_URL as ADVERTISED
from tests.support.constants import CLIENT_ID, TENANT_A, TENANT_B
from tests.support.oauth import basic
from tests.unit.oauth.helpers import add_client

pytestmark = pytest.mark.e2e

# Every way of writing "go up" (or a separator) that a path normaliser somewhere might decode.
TRAVERSALS = [
    "Patient/../../manage/clients",
    "Patient/%2e%2e/%2e%2e/manage/clients",
    "Patient/%2E%2e/%2e%2E/manage/clients",
    "Patient/.%2e/%2e./manage/clients",
    "Patient/%252e%252e/%252e%252e/manage/clients",
    "..%2f..%2fmanage/clients",
    "..%2F..%2Fmanage%2Fclients",
    "Patient%2f..%2f..%2fmanage%2fclients",
    "Patient/..%2f..%2f..%2fmanage/clients",
    "Patient/%2fmanage/clients",
    "Patient/..\\..\\manage\\clients",
    "Patient/..%5c..%5cmanage%5cclients",
    "Patient/%5c..%5c..%5cmanage/clients",
    "Patient/%c0%ae%c0%ae/%c0%ae%c0%ae/manage/clients",
    "Patient/%c0%af..%c0%afmanage",
    "Patient/%e0%80%ae%e0%80%ae/x",
    "Patient/%e2%80%a4%e2%80%a4/%e2%80%a4%e2%80%a4/manage/clients",  # U+2024 one dot leader
    "Patient/%ef%bc%8e%ef%bc%8e/%ef%bc%8e%ef%bc%8e/manage/clients",  # U+FF0E fullwidth full stop
    "Patient/%u002e%u002e/x",
    "Patient/1/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "Patient/1/....//....//x",
    "//127.0.0.1/manage/clients",
    "http://127.0.0.1/manage/clients",
    "Patient/1%00/../x",
    ".well-known/../../manage/clients",
]


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}"), ("Accept", "application/fhir+json")]


async def test_hostile_tokens_through_the_host(start_gateway):
    gw = await start_gateway()
    tokens = await hostile_tokens(gw.services, CLIENT_ID, TENANT_A)
    for name, token in tokens.items():
        response = rawhttp.send(gw.url, "GET", "/fhir/Patient/1", bearer(token))
        assert response.status == 401, name
        assert 'error="invalid_token"' in response.headers["www-authenticate"], name
        assert token not in response.text
    assert gw.provider.requests == []
    assert rawhttp.send(gw.url, "GET", "/fhir/Patient/1", bearer(gw.token)).status == 200  # the control
    assert [r.path for r in gw.provider.requests] == ["/stu3/Patient/1"]


async def test_path_traversal_never_leaves_the_routes_base_nor_reaches_another_function(start_gateway):
    gw = await start_gateway()
    for target in TRAVERSALS:
        for headers in (bearer(gw.token), [("x-functions-key", "wrong-key")]):
            response = rawhttp.send(gw.url, "GET", f"/fhir/{target}", headers)
            assert response.status in (400, 401, 404), (target, response.status)
            assert '"items"' not in response.text and CLIENT_ID not in response.text, target
    # Nothing reached the provider at all, so certainly nothing outside /stu3.
    assert gw.provider.requests == []
    # The same paths as batch entries are refused before the provider too.
    for target in TRAVERSALS:
        entry = {"request": {"method": "GET", "url": target}}
        batch = json.dumps({"resourceType": "Bundle", "type": "batch", "entry": [entry]}).encode()
        response = rawhttp.send(gw.url, "POST", "/fhir", [*bearer(gw.token),
                                                          ("Content-Type", "application/fhir+json")], batch)
        assert response.status in (400, 403), (target, response.status)
    assert gw.provider.requests == []
    # Control: an ordinary read goes exactly to the route's base.
    assert rawhttp.send(gw.url, "GET", "/fhir/Patient/1", bearer(gw.token)).status == 200
    assert [r.path for r in gw.provider.requests] == ["/stu3/Patient/1"]


async def test_a_token_never_reaches_another_tenants_provider_through_the_host(start_gateway):
    gw = await start_gateway()
    await connect(gw.services, TENANT_B, gw.provider.base("/tenant-b"))
    tricks = [
        ("/fhir/Patient?tenant=" + TENANT_B, []),
        (f"/fhir/{TENANT_B}/Patient", []),
        ("/fhir/Patient", [("X-Tenant-Id", TENANT_B), ("X-MS-Tenant-Id", TENANT_B)]),
        ("/fhir/Patient", [("X-Original-URL", f"/fhir/{TENANT_B}/Patient"), ("X-Forwarded-Host", "b.example")]),
        ("/fhir/Patient", [("Authorization", "Bearer not-a-token")]),  # a second Authorization header
    ]
    for target, extra in tricks:
        rawhttp.send(gw.url, "GET", target, [*bearer(gw.token), *extra])
    assert gw.provider.requests, "the controls reached the provider"
    assert all(r.path.startswith("/stu3/") for r in gw.provider.requests)


async def test_forged_host_and_forwarding_headers_never_change_advertised_urls(start_gateway):
    gw = await start_gateway()
    await connect(gw.services, TENANT_B, gw.provider.base("/tenant-b"))  # two routes: the admin list pages
    forged = [("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Proto", "gopher"),
              ("Forwarded", 'for=1.2.3.4;host=evil.example;proto=http'), ("X-Original-Host", "evil.example"),
              ("X-Host", "evil.example"), ("X-Forwarded-Prefix", "/evil"), ("X-Forwarded-Port", "666")]
    bodies = []
    for path in ("/fhir/metadata", "/fhir/.well-known/smart-configuration"):
        response = rawhttp.send(gw.url, "GET", path, forged, host="evil.example")
        assert response.status == 200, path
        bodies.append(response.text)
    metadata, smart = json.loads(bodies[0]), json.loads(bodies[1])
    assert smart["token_endpoint"] == f"{ADVERTISED}/oauth2/token"
    oauth = next(ext for ext in metadata["rest"][0]["security"]["extension"]
                 if ext["url"].endswith("oauth-uris"))
    assert {e["valueUri"] for e in oauth["extension"]} >= {f"{ADVERTISED}/oauth2/token"}
    proxied = rawhttp.send(gw.url, "GET", "/fhir/Observation?patient=1", [*bearer(gw.token), *forged],
                           host="evil.example")
    assert proxied.status == 200
    links = [link["url"] for link in json.loads(proxied.body)["link"]]
    assert links and all(link.startswith(f"{ADVERTISED}/fhir") for link in links)
    assert gw.provider.requests[-1].header("X-Forwarded-Host") == "localhost:7071"
    listing = rawhttp.send(gw.url, "GET", "/manage/routes?pageSize=1",
                           [("x-functions-key", gw.function_key), *forged], host="evil.example")
    assert listing.status == 200
    assert json.loads(listing.body)["nextLink"].startswith(f"{ADVERTISED}/manage/routes?")
    bodies += [proxied.text, listing.text]
    challenge = rawhttp.send(gw.url, "GET", "/fhir/Patient/1", forged, host="evil.example")
    assert challenge.headers["www-authenticate"] == f'Bearer realm="{ADVERTISED}/fhir"'
    for text in [*bodies, challenge.text]:
        assert "evil" not in text and "gopher" not in text and ":666" not in text  # (timestamps may hold 666)
        assert f":{gw.host.port}" not in text  # not even the real Host header


async def test_oversized_urls_headers_and_bodies_are_clean_4xx_at_every_endpoint(start_gateway):
    gw = await start_gateway(MAX_REQUEST_BODY_BYTES="4096")
    admin = [("x-functions-key", gw.function_key)]
    endpoints = [("GET", "/fhir/Patient", bearer(gw.token)), ("GET", "/fhir/metadata", []),
                 ("POST", "/oauth2/token", [("Content-Type", "application/x-www-form-urlencoded")]),
                 ("GET", "/oauth2/jwks", []), ("GET", "/manage/clients", admin)]
    for method, path, headers in endpoints:
        long_url = rawhttp.send(gw.url, method, f"{path}?{'a' * 5000}=1", headers)
        assert long_url.status == 414, path
        long_path = rawhttp.send(gw.url, method, f"{path}/{'A' * 5000}", headers)
        assert long_path.status in (404, 414), path
        for big in ([("X-Padding", "p" * 65536)], [(f"X-Pad-{i}", "p" * 64) for i in range(500)],
                    [("Cookie", "c=" + "x" * 65536)]):
            response = rawhttp.send(gw.url, method, path, [*headers, *big])
            assert 200 <= response.status < 500, (path, response.status)
        huge_auth = rawhttp.send(gw.url, method, path, [("Authorization", "Bearer " + "e" * 100_000)])
        assert huge_auth.status in (200, 400, 401, 405), (path, huge_auth.status)
    for method, path, headers in [("POST", "/fhir/Patient/_search", bearer(gw.token)),
                                  ("POST", "/fhir", bearer(gw.token)),
                                  ("POST", "/oauth2/token", [("Content-Type", "application/x-www-form-urlencoded")]),
                                  ("POST", "/manage/clients", [*admin, ("Content-Type", "application/json")])]:
        response = rawhttp.send(gw.url, method, path, headers, b"x" * 10_000)  # token endpoint: 8 KB
        assert response.status == 413, (path, response.status)
        assert "x" * 100 not in response.text
    # Only the three header cases of the proxy read were forwarded, without the oversized fields.
    assert [r.path for r in gw.provider.requests] == ["/stu3/Patient"] * 3
    assert all(len(value) < 4096 for r in gw.provider.requests for _, value in r.headers)
    assert "Traceback" not in gw.host.output()


async def test_slow_bodies_time_out_and_do_not_hold_up_other_callers(start_gateway):
    gw = await start_gateway(FUNCHOST_BODY_TIMEOUT_SECONDS="2")
    slow = []
    declared, chunked = "Content-Length: 1000\r\n\r\nname=", "Transfer-Encoding: chunked\r\n\r\n3e8\r\nname="
    for path, framing in (("/fhir/Patient/_search", declared), ("/oauth2/token", declared),
                          ("/manage/clients", declared), ("/fhir/Observation/_search", chunked)):
        sock = rawhttp.connect(gw.url)
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     f"Authorization: Bearer {gw.token}\r\nx-functions-key: {gw.function_key}\r\n"
                     f"{framing}".encode())
        slow.append(sock)
    try:
        # While four callers trickle their bodies (declared or chunked), an honest one is served.
        assert rawhttp.send(gw.url, "GET", "/fhir/Patient/1", bearer(gw.token)).status == 200
        deadline = time.monotonic() + 30  # generous: the host answers after 2 s
        for sock in slow:
            sock.sendall(b"a")  # still trickling
        for sock in slow:
            answer = rawhttp.parse(rawhttp.read_all(sock, deadline))
            assert answer.status == 408
            assert answer.headers.get("connection") == "close"
    finally:
        for sock in slow:
            sock.close()
    assert [r.path for r in gw.provider.requests] == ["/stu3/Patient/1"]  # the slow search never went out
    gw.host.wait_for_output("POST /manage/clients 408")


async def test_token_endpoint_brute_force_is_limited_per_address_and_cannot_lock_out_the_client(start_gateway):
    gw = await start_gateway(AUTH_FAILURE_LIMIT="3", AUTH_FAILURE_WINDOW_SECONDS="60")
    secret = await add_client(gw.services, "brute-target", tenants=(TENANT_A,))
    register_sensitive(secret)
    form = {"grant_type": "client_credentials", "scope": TENANT_A}
    honest = httpx.Client(base_url=gw.url, timeout=30)
    attacker = httpx.Client(base_url=gw.url, timeout=30,
                            transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with honest, attacker:
        assert honest.post("/oauth2/token", data=form,
                           headers={"Authorization": basic("brute-target", secret)}).status_code == 200
        statuses = []
        for attempt in range(6):
            wrong = secret[:-4] + f"{attempt:04d}"
            statuses.append(attacker.post("/oauth2/token", data=form,
                                          headers={"Authorization": basic("brute-target", wrong),
                                                   "X-Forwarded-For": f"198.51.100.{attempt}"}))
        assert [r.status_code for r in statuses] == [401, 401, 401, 429, 429, 429]
        limited = statuses[-1]
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"] == "temporarily_unavailable"
        # Locked out: even the right secret from the attacker's address is refused, unchecked.
        assert attacker.post("/oauth2/token", data=form,
                             headers={"Authorization": basic("brute-target", secret)}).status_code == 429
        # The honest client, on its own address, is unaffected.
        for _ in range(3):
            assert honest.post("/oauth2/token", data=form,
                               headers={"Authorization": basic("brute-target", secret)}).status_code == 200
    assert secret not in gw.host.output()


async def test_kill_switch_through_the_host_within_client_cache_seconds(start_gateway):
    gw = await start_gateway(CLIENT_CACHE_SECONDS="1")
    admin = httpx.Client(base_url=gw.url, headers={"x-functions-key": gw.function_key}, timeout=30)
    with admin:
        created = admin.post("/manage/clients", json={"displayName": "Kill me", "allowedTenants": [TENANT_A]})
        assert created.status_code == 201
        client_id, secret = created.json()["clientId"], created.json()["clientSecret"]
        register_sensitive(secret)
        issued = httpx.post(f"{gw.url}/oauth2/token", data={"grant_type": "client_credentials", "scope": TENANT_A},
                            auth=(client_id, secret), timeout=30)
        assert issued.status_code == 200
        token = issued.json()["access_token"]
        register_sensitive(token)
        assert rawhttp.send(gw.url, "GET", "/fhir/Patient/1", bearer(token)).status == 200
        patched = admin.patch(f"/manage/clients/{client_id}", json={"enabled": False})
        assert patched.status_code == 200, patched.text
        deadline = time.monotonic() + 20  # CLIENT_CACHE_SECONDS=1, generous for a loaded machine
        while True:
            status = rawhttp.send(gw.url, "GET", "/fhir/Patient/1", bearer(token)).status
            if status == 401 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 401
        assert admin.delete(f"/manage/clients/{client_id}").status_code == 204
        assert rawhttp.send(gw.url, "GET", "/fhir/Patient/1", bearer(token)).status == 401
        assert httpx.post(f"{gw.url}/oauth2/token", data={"grant_type": "client_credentials", "scope": TENANT_A},
                          auth=(client_id, secret), timeout=30).status_code == 401
    assert [r.path for r in gw.provider.requests] == ["/stu3/Patient/1"]
