"""The two credential rules of the admin API, on their own: a managed identity's scope is the provider's
origin; a stored provider secret is bound to the fields its credential kind declares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from gateway.admin.actor import Actor
from gateway.admin.problems import Problem
from gateway.admin.tenant_routes import RouteSpec
from gateway.outbound.identity_scopes import origin_of, provider_scope, scope_problem
from gateway.upstream.bindings import CLIENT_ID, PROVIDER_ORIGIN, TOKEN_URL, Binding, CredentialTarget, moved_fields
from gateway.upstream.client_credentials import ClientCredentialsAuth, ClientCredentialsKind
from gateway.upstream.managed_identity import ManagedIdentityAuth
from gateway.upstream.registry import KINDS
from tests.support.constants import TENANT

ACTOR = Actor("function-key:unit")
BASE = "https://ws-fhir.fhir.azurehealthcareapis.com/fhir"


@pytest.mark.parametrize(("url", "origin"), [
    ("https://Host.Example/fhir", "https://host.example"),
    ("https://host.example:443/fhir", "https://host.example"),
    ("http://host.example:80/", "http://host.example"),
    ("https://host.example:8443/r4", "https://host.example:8443"),
    ("https://[2001:db8::1]:443/fhir", "https://[2001:db8::1]"),
    ("ftp://host.example/", None),
    ("https://user@host.example/", None),
    ("not a url", None),
    ("https://host.example:99999/", None),
])
def test_origin_of_normalises_scheme_host_and_default_port(url, origin):
    assert origin_of(url) == origin


@pytest.mark.parametrize("scope", [None, "https://ws-fhir.fhir.azurehealthcareapis.com/.default",
                                   "HTTPS://WS-FHIR.fhir.azurehealthcareapis.com:443/.default"])
def test_the_providers_origin_is_the_only_scope(scope):
    assert scope_problem(BASE, scope) is None
    assert provider_scope(BASE) == "https://ws-fhir.fhir.azurehealthcareapis.com/.default"


@pytest.mark.parametrize("scope", [
    "https://vault.azure.net/.default", "https://storage.azure.com/.default", "",
    "https://ws-fhir.fhir.azurehealthcareapis.com/fhir/.default", "https://ws-fhir.fhir.azurehealthcareapis.com",
    "https://ws-fhir.fhir.azurehealthcareapis.com/.default/.default", "http://ws-fhir.fhir.azurehealthcareapis.com/.default",
    "https://ws-fhir.fhir.azurehealthcareapis.com/.default#x", "https://x@ws-fhir.fhir.azurehealthcareapis.com/.default",
])
def test_any_other_scope_is_refused_naming_the_scope_field(scope):
    field, message = scope_problem(BASE, scope)
    assert field == "upstreamAuth/scope"
    assert not scope or scope not in message


@pytest.mark.parametrize("base", ["https://kv1.vault.azure.net/x", "https://VAULT.AZURE.NET/x",
                                  "https://acct.queue.core.windows.net/x", "https://graph.microsoft.com/v1.0"])
def test_a_provider_on_an_identity_resource_host_is_refused_naming_the_base(base):
    assert scope_problem(base, None)[0] == "fhirBaseUrl"


def target(base="https://p.example/r4", token_url="https://login.p.example/t", client_id="gw"):
    return CredentialTarget.of(base, token_url, client_id)


def test_client_credentials_bind_token_url_client_id_and_provider_origin():
    kind = KINDS["clientCredentials"]
    assert kind.secret_field == "upstreamAuth/clientSecret"
    bound = kind.bound_to
    assert moved_fields(bound, target(), target(base="https://P.example:443/other")) == []
    assert moved_fields(bound, target(), target(token_url="https://evil.example/t")) == ["upstreamAuth/tokenUrl"]
    assert moved_fields(bound, target(), target(client_id="other")) == ["upstreamAuth/clientId"]
    assert moved_fields(bound, target(), target(base="https://evil.example/r4")) == ["fhirBaseUrl"]
    assert moved_fields(bound, target(), target(base="http://p.example/r4", client_id="x")) == \
        ["upstreamAuth/clientId", "fhirBaseUrl"]


@dataclass(frozen=True)
class PrivateKeyAuth(ClientCredentialsAuth):
    """A future kind's value: a private key the administrator uploads, kept in Key Vault like a client secret."""


class PrivateKeyKind(ClientCredentialsKind):
    """A future kind declared in its own module and the registry: it names its secret field and bindings."""

    name: ClassVar[str] = "privateKey"
    value_type: ClassVar[type] = PrivateKeyAuth
    schema_name: ClassVar[str] = "UpstreamAuthPrivateKey"
    secret_field: ClassVar[str | None] = "upstreamAuth/privateKey"
    bound_to: ClassVar[tuple[Binding, ...]] = (TOKEN_URL, CLIENT_ID, PROVIDER_ORIGIN)


async def test_a_future_credential_kind_follows_the_same_rule(services, monkeypatch):
    """A kind added to the registry (here a private key uploaded like a secret) needs nothing else."""
    monkeypatch.setitem(KINDS, "privateKey", PrivateKeyKind())

    def spec(token_url: str = "http://127.0.0.1:9999/token", secret: str | None = None) -> RouteSpec:
        return RouteSpec(fhir_base_url="http://127.0.0.1:9999/fhir", fhir_version="STU3",
                         upstream=PrivateKeyAuth(token_url=token_url, client_id="gw"), upstream_secret=secret)

    stored, _ = await services.admin_api.routes.put(ACTOR, TENANT, spec(secret="-----BEGIN KEY-----"))
    assert stored.upstream_auth.type == "privateKey" and stored.upstream_auth.secret_name is not None
    kept, _ = await services.admin_api.routes.put(ACTOR, TENANT, spec())
    assert kept.upstream_auth.secret_name == stored.upstream_auth.secret_name
    with pytest.raises(Problem) as refused:
        await services.admin_api.routes.put(ACTOR, TENANT, spec(token_url="http://localhost:1/token"))
    assert [e.field for e in refused.value.errors] == ["upstreamAuth/privateKey", "upstreamAuth/tokenUrl"]


async def test_a_refused_rebinding_is_audited_without_the_secret(services):
    await services.admin_api.routes.put(ACTOR, TENANT, RouteSpec(
        fhir_base_url="http://127.0.0.1:9999/fhir", fhir_version="STU3",
        upstream=ClientCredentialsAuth(token_url="http://127.0.0.1:9999/token", client_id="gw"),
        upstream_secret="s3cr3t-1"))
    with pytest.raises(Problem) as refused:
        await services.admin_api.routes.put(ACTOR, TENANT, RouteSpec(
            fhir_base_url="http://127.0.0.1:9999/fhir", fhir_version="STU3",
            upstream=ClientCredentialsAuth(token_url="http://localhost:9999/token", client_id="gw")))
    assert refused.value.status == 422 and refused.value.audited
    record = services.audit.records[-1]
    assert (record.outcome, record.details) == ("failed:422 secret-bound-to-changed-field", {
        "reason": "secret-bound-to-changed-field", "fields": ["upstreamAuth/clientSecret", "upstreamAuth/tokenUrl"]})


async def test_switching_kind_without_a_secret_is_refused_as_before(services):
    await services.admin_api.routes.put(ACTOR, TENANT, RouteSpec(
        fhir_base_url="http://127.0.0.1:9999/fhir", fhir_version="STU3", upstream=ManagedIdentityAuth()))
    with pytest.raises(Problem) as refused:
        await services.admin_api.routes.put(ACTOR, TENANT, RouteSpec(
            fhir_base_url="http://127.0.0.1:9999/fhir", fhir_version="STU3",
            upstream=ClientCredentialsAuth(token_url="http://127.0.0.1:9999/token", client_id="gw")))
    assert [e.field for e in refused.value.errors] == ["upstreamAuth/clientSecret"]
