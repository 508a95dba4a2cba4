"""The entry adapter: start-up and store failures answered the same way by all four functions, each in its
own surface's format (OAuth JSON, OperationOutcome, problem details), never a bare JSON 500 or a trace."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

import gateway.config
import gateway.services
from gateway.entry import Surface
from gateway.http import Headers, Request
from gateway.surfaces.admin import handle as admin
from gateway.surfaces.fhir import handle as fhir
from gateway.surfaces.metadata import handle as metadata
from gateway.surfaces.token import handle as token
from tests.fixtures.common import DEV_SETTINGS, make_settings


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Well-formed enough to need the stores: a secret of the gateway's shape, a token with a key id to look up.
SECRET = "0123456789abcdef." + "A" * 43
HEADER = {"alg": "ES256", "typ": "at+jwt", "kid": "20261201000000-0123456789abcdef"}
CLAIMS = {"sub": "c", "exp": 4102444800}
TOKEN = ".".join([_b64(json.dumps(HEADER).encode()), _b64(json.dumps(CLAIMS).encode()), _b64(bytes(64))])
SURFACES = {"token": token, "fhir": fhir, "admin": admin, "metadata": metadata}
REQUESTS = {
    "token": Request("POST", "http://localhost:7071/oauth2/token", route_params={"endpoint": "token"},
                     headers=Headers({"Content-Type": "application/x-www-form-urlencoded"}),
                     body=f"grant_type=client_credentials&client_id=c&client_secret={SECRET}&scope=t".encode()),
    "fhir": Request("GET", "http://localhost:7071/fhir/Patient/1", route_params={"path": "Patient/1"},
                    headers=Headers({"Authorization": f"Bearer {TOKEN}", "X-Request-Id": "rid-7"})),
    "admin": Request("GET", "http://localhost:7071/manage/routes", route_params={"path": "routes"},
                     headers=Headers({"X-Request-Id": "rid-7"})),
    "metadata": Request("GET", "http://localhost:7071/fhir/metadata", route_params={"path": "metadata"},
                        headers=Headers({"X-Request-Id": "rid-7"})),
}
# An Azurite-style connection string whose table endpoint refuses connections.
UNREACHABLE_TABLES = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
                      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                      "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")
UNREACHABLE = dict(TABLES_CONNECTION_STRING=UNREACHABLE_TABLES, KEY_VAULT_URL="https://127.0.0.1:9",
                   KEY_VAULT_CREDENTIAL="emulator", STORE_TIMEOUT_SECONDS="1")


@pytest.fixture
async def worker(monkeypatch):
    """A fresh worker: no settings read yet, no services built; ``use(settings or error)`` sets what it reads."""
    monkeypatch.setattr(gateway.services, "_worker", {})
    monkeypatch.setattr(gateway.services, "_lock", None)

    def use(**overrides: str) -> None:
        def read() -> gateway.config.Settings:  # as the worker reads its environment: parsed on every try
            return gateway.config.Settings.from_mapping({**DEV_SETTINGS, **overrides})

        monkeypatch.setattr("gateway.entry.current_settings", read)
        monkeypatch.setattr("gateway.services.current_settings", read)

    yield use
    for services in gateway.services._worker.values():
        await services.aclose()


def assert_format(name: str, response, status: int) -> dict:
    """The body in the surface's own error format, with the status and headers that format asks for."""
    body = json.loads(response.body)
    assert response.status == status
    assert b"Traceback" not in response.body
    if status == 503:
        assert int(response.headers["Retry-After"]) > 0
    if name == "token":
        assert response.content_type.split(";")[0] == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        assert body["error"] == ("temporarily_unavailable" if status == 503 else "server_error")
    elif name == "admin":
        assert response.content_type.split(";")[0] == "application/problem+json"
        assert body["status"] == status and body["requestId"] == "rid-7"
    else:
        assert response.content_type.split(";")[0] == "application/fhir+json"
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == ("transient" if status == 503 else "exception")
        assert response.headers["X-Request-Id"] == "rid-7"
    return body


@pytest.mark.parametrize("name", sorted(SURFACES))
async def test_an_invalid_setting_is_a_500_in_each_surfaces_format_naming_it_only_in_the_log(name, worker, caplog):
    worker(TOKEN_LIFETIME_SECONDS="hunter2-not-a-number")
    caplog.set_level(logging.ERROR, logger="gateway.entry")
    response = await SURFACES[name](REQUESTS[name])
    assert_format(name, response, 500)
    assert "TOKEN_LIFETIME_SECONDS" in caplog.text
    assert "hunter2" not in caplog.text and b"hunter2" not in response.body
    assert b"TOKEN_LIFETIME_SECONDS" not in response.body  # the caller learns nothing about the configuration


@pytest.mark.parametrize("name", ["token", "fhir", "admin"])
async def test_a_missing_store_setting_is_a_500_in_each_surfaces_format(name, worker, caplog):
    worker()  # development settings without TABLES_CONNECTION_STRING: the stores cannot be opened
    caplog.set_level(logging.ERROR, logger="gateway.entry")
    assert_format(name, await SURFACES[name](REQUESTS[name]), 500)
    assert "TABLES_CONNECTION_STRING" in caplog.text


@pytest.mark.parametrize("name", ["token", "fhir", "admin"])
async def test_unreachable_stores_are_a_503_within_the_store_timeout(name, worker):
    worker(**UNREACHABLE)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await SURFACES[name](REQUESTS[name])
    assert loop.time() - started < 3
    assert_format(name, response, 503)


async def test_what_needs_no_stores_is_answered_while_they_are_unreachable(worker):
    worker(**UNREACHABLE)
    document = await metadata(REQUESTS["metadata"])
    assert document.status == 200 and json.loads(document.body)["resourceType"] == "CapabilityStatement"
    authorize = await token(Request("GET", "http://localhost:7071/oauth2/authorize?response_type=code",
                                    route_params={"endpoint": "authorize"}))
    assert authorize.status == 400 and json.loads(authorize.body)["error"] == "unsupported_response_type"
    assert gateway.services._worker == {}  # neither opened the stores


@pytest.mark.parametrize("name", ["token", "fhir", "admin"])
async def test_an_exception_escaping_a_surface_is_a_500_in_its_format_without_the_message(name, worker, caplog):
    worker()
    surface = SURFACES[name]

    async def failing(request, services, deadline):
        raise RuntimeError("patient Jane Doe 1970-01-01")

    gateway.services._worker[id(asyncio.get_running_loop())] = gateway.services.memory_services(make_settings())
    broken = Surface(surface.name, failing, surface.render_failure, answer_early=surface.answer_early)
    caplog.set_level(logging.ERROR)
    response = await broken(REQUESTS[name])
    assert_format(name, response, 500)
    assert "Jane" not in caplog.text and b"Jane" not in response.body
    assert "RuntimeError" in caplog.text


async def test_a_store_that_never_answers_is_a_503_on_a_bounded_surface(worker):
    worker(STORE_TIMEOUT_SECONDS="0.3")
    services = gateway.services.memory_services(make_settings(STORE_TIMEOUT_SECONDS="0.3"))
    gateway.services._worker[id(asyncio.get_running_loop())] = services

    async def hang(*args, **kwargs):
        await asyncio.sleep(30)

    services.clients.get = hang
    services.clients.list = hang
    services.legacy_ids.load = hang
    response = await token(REQUESTS["token"])
    assert_format("token", response, 503)
