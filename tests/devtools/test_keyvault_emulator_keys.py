"""The emulator's Keys API over real HTTPS with the production ``KeyClient`` and ``CryptographyClient``
(async and sync), and plain ``requests`` for the raw protocol (shapes, errors, what is never answered).

The JWT tests build a client assertion exactly as the gateway does for a provider (RFC 7523): PyJWT
encodes header and payload, Key Vault signs the digest, PyJWT verifies against the published JWK.
"""

from __future__ import annotations

import hashlib
import json
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import requests
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys import KeyClient as SyncKeyClient
from azure.keyvault.keys import KeyCurveName, KeyType
from azure.keyvault.keys.aio import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient as SyncCryptographyClient
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.keys.crypto.aio import CryptographyClient
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from jwt.algorithms import Algorithm
from jwt.api_jws import PyJWS
from jwt.utils import base64url_decode, base64url_encode

from gateway.stores.keyvault import EmulatorCredential
from tests.fixtures.keyvault import KeyVaultEmulator

pytestmark = pytest.mark.integration

API = "7.5"
AUTH = {"Authorization": "Bearer any-development-token"}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "key_hsm"}


class SyncEmulatorCredential:
    """Sync twin of the gateway's EmulatorCredential (the emulator accepts any bearer token)."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken(EmulatorCredential.TOKEN, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: object = None) -> AccessTokenInfo:
        return AccessTokenInfo(EmulatorCredential.TOKEN, int(time.time()) + 3600)


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def call(kv: KeyVaultEmulator, method: str, path: str, *, headers: dict | None = None,
         **kwargs) -> requests.Response:
    params = {"api-version": API, **kwargs.pop("params", {})}
    return requests.request(method, f"{kv.url}{path}", params=params, headers=AUTH if headers is None else headers,
                            verify=kv.ca_bundle, timeout=30, **kwargs)


def error_of(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


def public_key(jwk: dict):
    """The public key of a wire JWK (RFC 7518 §6), built by hand rather than trusting any one library."""
    if jwk["kty"] == "RSA":
        n, e = (int.from_bytes(base64url_decode(jwk[m]), "big") for m in ("n", "e"))
        return rsa.RSAPublicNumbers(e, n).public_key()
    curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[jwk["crv"]]
    x, y = (int.from_bytes(base64url_decode(jwk[m]), "big") for m in ("x", "y"))
    return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()


def verify_es384(jwk: dict, message: bytes, signature: bytes) -> None:
    """ES384 over ``message``: the signature is JWS's raw r || s, 48 bytes each (RFC 7518 §3.4)."""
    assert len(signature) == 96
    der = utils.encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
    public_key(jwk).verify(der, message, ec.ECDSA(hashes.SHA384()))


@pytest.fixture
async def client(keyvault: KeyVaultEmulator) -> AsyncIterator[KeyClient]:
    keyvault.start()
    async with KeyClient(keyvault.url, EmulatorCredential(), verify_challenge_resource=False,
                         connection_verify=keyvault.ca_bundle) as key_client:
        yield key_client


def crypto_client(keyvault: KeyVaultEmulator, key_id: str) -> CryptographyClient:
    return CryptographyClient(key_id, EmulatorCredential(), verify_challenge_resource=False,
                              connection_verify=keyvault.ca_bundle)


@pytest.fixture
def sync_client(keyvault: KeyVaultEmulator) -> Iterator[SyncKeyClient]:
    keyvault.start()
    with SyncKeyClient(keyvault.url, SyncEmulatorCredential(), verify_challenge_resource=False,
                       connection_verify=keyvault.ca_bundle) as key_client:
        yield key_client


# -- create, get, list ---------------------------------------------------------------------------

async def test_create_and_get_have_key_vault_shapes(client, keyvault):
    name = unique()
    created = await client.create_ec_key(name, curve=KeyCurveName.p_384, tags={"use": "provider-assertions"})
    assert created.key_type == KeyType.ec and created.key.crv == "P-384"
    assert created.id == f"{keyvault.url}/keys/{name}/{created.properties.version}"
    assert created.properties.tags == {"use": "provider-assertions"} and created.properties.enabled
    assert sorted(created.key_operations) == ["sign", "verify"]

    raw = call(keyvault, "GET", f"/keys/{name}/{created.properties.version}").json()
    assert set(raw) == {"key", "attributes", "tags"}
    assert set(raw["key"]) == {"kid", "kty", "key_ops", "crv", "x", "y"}
    assert raw["key"]["kid"] == created.id
    assert len(base64url_decode(raw["key"]["x"])) == len(base64url_decode(raw["key"]["y"])) == 48
    attributes = raw["attributes"]
    assert attributes["enabled"] is True and isinstance(attributes["created"], int)
    assert attributes["recoveryLevel"] == "Recoverable+Purgeable" and attributes["recoverableDays"] == 90
    assert attributes["exportable"] is False
    for path in (f"/keys/{name}", f"/keys/{name}/"):
        assert call(keyvault, "GET", path).json() == raw

    fetched = await client.get_key(name)
    assert fetched.id == created.id and fetched.key.x == created.key.x


@pytest.mark.parametrize("size", [2048, 3072, 4096])
async def test_rsa_sizes(client, size):
    key = await client.create_rsa_key(unique(), size=size)
    assert key.key_type == KeyType.rsa and len(key.key.n) * 8 == size and key.key.e == b"\x01\x00\x01"
    assert sorted(key.key_operations) == sorted(["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"])


async def test_rotation_adds_versions_and_listings_page(client, keyvault):
    name = unique()
    first = await client.create_rsa_key(name, size=2048, key_operations=["sign", "verify"])
    second = await client.rotate_key(name)
    third = await client.create_rsa_key(name, size=2048)
    assert len({first.properties.version, second.properties.version, third.properties.version}) == 3
    assert second.key_operations == ["sign", "verify"] and second.key.n != first.key.n
    assert (await client.get_key(name)).properties.version == third.properties.version
    assert (await client.get_key(name, first.properties.version)).key.n == first.key.n

    versions = [p async for p in client.list_properties_of_key_versions(name, max_page_size=1)]
    assert sorted(p.version for p in versions) == sorted(k.properties.version for k in (first, second, third))
    assert all(p.id == f"{keyvault.url}/keys/{name}/{p.version}" for p in versions)
    page = call(keyvault, "GET", f"/keys/{name}/versions", params={"maxresults": "2"}).json()
    assert len(page["value"]) == 2 and page["nextLink"] and "key" not in page["value"][0]

    listed = [p async for p in client.list_properties_of_keys(max_page_size=1)]
    mine = [p for p in listed if p.name == name]
    assert len(mine) == 1 and mine[0].version is None


async def test_update_attributes_tags_and_operations(client):
    name = unique()
    created = await client.create_ec_key(name, curve="P-256")
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    updated = await client.update_key_properties(name, created.properties.version, enabled=False, expires_on=expires,
                                                  tags={"state": "retired"}, key_operations=["verify"])
    assert (updated.properties.enabled, updated.properties.expires_on) == (False, expires)
    assert updated.properties.tags == {"state": "retired"} and updated.key_operations == ["verify"]
    again = await client.get_key(name)  # a disabled key can still be read (its public half)
    assert again.properties.enabled is False and again.key.x == created.key.x


# -- sign and verify -----------------------------------------------------------------------------

async def test_sign_rs384_and_es384_verify_with_the_published_key(client, keyvault):
    message = b"header.payload"
    digest = hashlib.sha384(message).digest()

    rsa_key = await client.create_rsa_key(unique(), size=3072)
    async with crypto_client(keyvault, rsa_key.id) as crypto:
        result = await crypto.sign(SignatureAlgorithm.rs384, digest)
    assert result.key_id == rsa_key.id and result.algorithm == SignatureAlgorithm.rs384
    jwk = call(keyvault, "GET", f"/keys/{rsa_key.name}/{rsa_key.properties.version}").json()["key"]
    public_key(jwk).verify(result.signature, message, padding.PKCS1v15(), hashes.SHA384())

    ec_key = await client.create_ec_key(unique(), curve="P-384")
    async with crypto_client(keyvault, ec_key.id) as crypto:
        result = await crypto.sign(SignatureAlgorithm.es384, digest)
    jwk = call(keyvault, "GET", f"/keys/{ec_key.name}").json()["key"]
    verify_es384(jwk, message, result.signature)
    with pytest.raises(InvalidSignature):
        verify_es384(jwk, b"another message", result.signature)


async def test_signing_by_a_versionless_id_uses_the_latest_version(client, keyvault):
    name = unique()
    await client.create_ec_key(name, curve="P-256")
    latest = await client.rotate_key(name)
    async with crypto_client(keyvault, f"{keyvault.url}/keys/{name}") as crypto:
        result = await crypto.sign(SignatureAlgorithm.es256, hashlib.sha256(b"m").digest())
    assert result.key_id == latest.id


async def test_a_pyjwt_assertion_signed_in_key_vault_verifies_with_pyjwt(client, keyvault):
    """The gateway's provider assertion: PyJWT's segments, Key Vault's ES384 signature, PyJWT's verification."""
    key = await client.create_ec_key(unique("gateway-provider"), curve="P-384")
    now = int(time.time())
    claims = {"iss": "gateway-client", "sub": "gateway-client", "aud": "https://hospital.example/auth/token",
              "jti": uuid.uuid4().hex, "iat": now, "exp": now + 300}
    header = {"alg": "ES384", "typ": "JWT", "kid": key.properties.version}
    signing_input = b".".join(base64url_encode(json.dumps(part, separators=(",", ":")).encode())
                              for part in (header, claims))
    async with crypto_client(keyvault, key.id) as crypto:
        signed = await crypto.sign(SignatureAlgorithm.es384, hashlib.sha384(signing_input).digest())
    assertion = (signing_input + b"." + base64url_encode(signed.signature)).decode()

    jwk = call(keyvault, "GET", f"/keys/{key.name}").json()["key"]
    published = jwt.PyJWK({**jwk, "kid": key.properties.version, "alg": "ES384"})
    decoded = jwt.decode(assertion, published.key, algorithms=["ES384"], audience=claims["aud"],
                         issuer="gateway-client")
    assert decoded == claims
    assert jwt.get_unverified_header(assertion)["kid"] == key.properties.version
    tampered = assertion[:-6] + ("AAAAAA" if not assertion.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, published.key, algorithms=["ES384"], audience=claims["aud"])


class KeyVaultRS384(Algorithm):
    """A PyJWT algorithm whose private key is a sync CryptographyClient: signing happens in Key Vault."""

    def prepare_key(self, key):
        return key

    def sign(self, msg: bytes, key: SyncCryptographyClient) -> bytes:
        return key.sign(SignatureAlgorithm.rs384, hashlib.sha384(msg).digest()).signature

    def verify(self, msg, key, sig):  # pragma: no cover - signing only
        raise NotImplementedError

    @staticmethod
    def to_jwk(key_obj, as_dict=False):  # pragma: no cover - signing only
        raise NotImplementedError

    @staticmethod
    def from_jwk(jwk):  # pragma: no cover - signing only
        raise NotImplementedError


def test_sync_clients_sign_a_pyjwt_encoded_token(sync_client, keyvault):
    key = sync_client.create_rsa_key(unique(), size=2048)
    rotated = sync_client.rotate_key(key.name)
    assert rotated.properties.version != key.properties.version
    assert [p.version for p in sync_client.list_properties_of_key_versions(key.name)] \
        == [key.properties.version, rotated.properties.version]
    jws = PyJWS(algorithms=[])
    jws.register_algorithm("RS384", KeyVaultRS384())
    claims = {"iss": "c", "sub": "c", "aud": "https://hospital.example/token", "exp": int(time.time()) + 60}
    with SyncCryptographyClient(rotated.id, SyncEmulatorCredential(), verify_challenge_resource=False,
                                connection_verify=keyvault.ca_bundle) as crypto:
        token = jws.encode(json.dumps(claims).encode(), crypto, algorithm="RS384",
                           headers={"kid": rotated.properties.version})
        digest = hashlib.sha384(b"x").digest()
        assert crypto.verify(SignatureAlgorithm.rs384, digest, crypto.sign(SignatureAlgorithm.rs384, digest)
                             .signature).is_valid
    published = jwt.PyJWK(call(keyvault, "GET", f"/keys/{key.name}").json()["key"], algorithm="RS384")
    assert jwt.decode(token, published.key, algorithms=["RS384"], audience=claims["aud"]) == claims
    old = jwt.PyJWK(call(keyvault, "GET", f"/keys/{key.name}/{key.properties.version}").json()["key"],
                    algorithm="RS384")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, old.key, algorithms=["RS384"], audience=claims["aud"])


def test_remote_verify_answers_true_and_false(keyvault):
    name = unique()
    call(keyvault, "POST", f"/keys/{name}/create", json={"kty": "EC", "crv": "P-384"})
    digest = base64url_encode(hashlib.sha384(b"m").digest()).decode()
    signature = call(keyvault, "POST", f"/keys/{name}//sign", json={"alg": "ES384", "value": digest}).json()["value"]
    good = call(keyvault, "POST", f"/keys/{name}//verify", json={"alg": "ES384", "digest": digest, "value": signature})
    assert good.status_code == 200 and good.json() == {"value": True}
    other = base64url_encode(hashlib.sha384(b"n").digest()).decode()
    bad = call(keyvault, "POST", f"/keys/{name}//verify", json={"alg": "ES384", "digest": other, "value": signature})
    assert bad.status_code == 200 and bad.json() == {"value": False}


# -- refusals ------------------------------------------------------------------------------------

def test_keys_api_demands_the_bearer_challenge(keyvault):
    response = call(keyvault, "POST", f"/keys/{unique()}/create", headers={}, json={"kty": "EC"})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer authorization=")


async def test_no_response_ever_carries_private_key_material(client, keyvault):
    name = unique()
    await client.create_rsa_key(name, size=2048)
    await client.rotate_key(name)
    version = (await client.get_key(name)).properties.version
    bodies = [call(keyvault, "POST", f"/keys/{name}/create", json={"kty": "EC"}),
              call(keyvault, "GET", f"/keys/{name}"), call(keyvault, "GET", f"/keys/{name}/{version}"),
              call(keyvault, "PATCH", f"/keys/{name}/", json={"tags": {"a": "b"}}),
              call(keyvault, "GET", "/keys"), call(keyvault, "GET", f"/keys/{name}/versions"),
              call(keyvault, "DELETE", f"/keys/{name}"), call(keyvault, "GET", f"/deletedkeys/{name}"),
              call(keyvault, "GET", "/deletedkeys"), call(keyvault, "POST", f"/keys/{name}/backup"),
              call(keyvault, "POST", f"/deletedkeys/{name}/recover")]
    for response in bodies:
        text = response.text
        assert "PRIVATE KEY" not in text
        document = response.json()
        jwks = [document.get("key")] + [item.get("key") for item in document.get("value", [])]
        assert not any(PRIVATE_MEMBERS & set(jwk) for jwk in jwks if jwk)
    assert bodies[-2].status_code in (404, 405)  # no backup: nothing carries the key out


@pytest.mark.parametrize("body", [
    {"kty": "RSA", "key_size": 1024}, {"kty": "RSA", "key_size": 2049}, {"kty": "RSA", "public_exponent": 3},
    {"kty": "EC", "crv": "P-256K"}, {"kty": "EC", "key_size": 256}, {"kty": "RSA-HSM"}, {"kty": "oct"},
    {"kty": "RSA", "attributes": {"exportable": True}}, {"kty": "EC", "key_ops": ["encrypt"]},
    {"kty": "RSA", "key_ops": "sign"}, {"kty": "RSA", "tags": [1]}, {}, ["RSA"],
])
def test_bad_create_requests_are_bad_parameters_and_create_nothing(keyvault, body):
    name = unique()
    response = call(keyvault, "POST", f"/keys/{name}/create", json=body)
    assert response.status_code == 400 and error_of(response)["code"] == "BadParameter"
    assert call(keyvault, "GET", f"/keys/{name}").status_code == 404


@pytest.mark.parametrize(("alg", "digest_size"), [("ES256", 48), ("RS384", 48), ("ES384", 32), ("none", 48),
                                                  ("HS384", 48)])
def test_sign_refuses_an_algorithm_the_key_cannot_do_or_a_wrong_digest(keyvault, alg, digest_size):
    name = unique()
    call(keyvault, "POST", f"/keys/{name}/create", json={"kty": "EC", "crv": "P-384"})
    digest = base64url_encode(b"\x01" * digest_size).decode()
    response = call(keyvault, "POST", f"/keys/{name}//sign", json={"alg": alg, "value": digest})
    assert response.status_code == 400 and error_of(response)["code"] == "BadParameter"


@pytest.mark.parametrize("body", [{"alg": "ES384"}, {"alg": "ES384", "value": "***"}, {"value": "AA"}, None])
def test_malformed_sign_bodies_are_bad_parameters(keyvault, body):
    name = unique()
    call(keyvault, "POST", f"/keys/{name}/create", json={"kty": "EC", "crv": "P-384"})
    response = call(keyvault, "POST", f"/keys/{name}//sign", json=body)
    assert response.status_code == 400 and error_of(response)["code"] == "BadParameter"


@pytest.mark.parametrize(("attributes", "key_ops", "inner"), [
    ({"enabled": False}, None, "KeyDisabled"),
    ({"exp": 1_000_000_000}, None, "KeyExpired"),
    ({"nbf": 4_000_000_000}, None, "KeyNotYetValid"),
    (None, ["verify"], "KeyOperationForbidden"),
])
def test_sign_refuses_a_key_that_may_not_sign(keyvault, attributes, key_ops, inner):
    name = unique()
    body: dict = {"kty": "EC", "crv": "P-256"}
    if attributes:
        body["attributes"] = attributes
    if key_ops:
        body["key_ops"] = key_ops
    assert call(keyvault, "POST", f"/keys/{name}/create", json=body).status_code == 200
    response = call(keyvault, "POST", f"/keys/{name}//sign",
                    json={"alg": "ES256", "value": base64url_encode(b"\x02" * 32).decode()})
    assert response.status_code == 403 and error_of(response)["innererror"]["code"] == inner


async def test_unknown_keys_and_versions_are_not_found(client, keyvault):
    with pytest.raises(ResourceNotFoundError):
        await client.get_key(unique())
    key = await client.create_ec_key(unique(), curve="P-256")
    with pytest.raises(ResourceNotFoundError):
        await client.get_key(key.name, uuid.uuid4().hex)
    response = call(keyvault, "POST", f"/keys/{unique()}/{uuid.uuid4().hex}/sign",
                    json={"alg": "ES256", "value": base64url_encode(b"\x02" * 32).decode()})
    assert response.status_code == 404 and error_of(response)["code"] == "KeyNotFound"
    assert call(keyvault, "GET", f"/keys/{unique()}/versions").json() == {"value": [], "nextLink": None}
    response = call(keyvault, "PUT", f"/keys/{key.name}")
    assert response.status_code == 405 and error_of(response)["code"] == "MethodNotAllowed"


# -- delete, recover, purge, restart -------------------------------------------------------------

async def test_soft_delete_recover_and_purge(client, keyvault):
    name = unique()
    created = await client.create_ec_key(name, curve="P-384")
    deleted = await client.delete_key(name, _polling_interval=0.05)
    assert deleted.recovery_id == f"{keyvault.url}/deletedkeys/{name}" and deleted.key.x == created.key.x
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=90)
    with pytest.raises(ResourceNotFoundError):
        await client.get_key(name)
    assert name in {k.name async for k in client.list_deleted_keys()}
    with pytest.raises(ResourceExistsError):
        await client.create_ec_key(name)
    recovered = await client.recover_deleted_key(name, _polling_interval=0.05)
    assert recovered.id == created.id
    await client.delete_key(name, _polling_interval=0.05)
    await client.purge_deleted_key(name)
    with pytest.raises(ResourceNotFoundError):
        await client.get_deleted_key(name)
    assert (await client.create_ec_key(name)).properties.version != created.properties.version


def test_keys_survive_a_restart_and_their_file_is_private(tmp_path):
    emulator = KeyVaultEmulator(tmp_path / "vault")
    emulator.start()
    try:
        name = unique()
        jwk = call(emulator, "POST", f"/keys/{name}/create", json={"kty": "EC", "crv": "P-384"}).json()["key"]
        assert emulator.stop() == 0
        assert stat.S_IMODE((tmp_path / "vault" / "keys.json").stat().st_mode) == 0o600
        emulator.start()
        assert call(emulator, "GET", f"/keys/{name}").json()["key"] == jwk
        message = b"after restart"
        digest = base64url_encode(hashlib.sha384(message).digest()).decode()
        signed = call(emulator, "POST", f"/keys/{name}//sign", json={"alg": "ES384", "value": digest}).json()
        assert signed["kid"] == jwk["kid"]
        verify_es384(jwk, message, base64url_decode(signed["value"]))
    finally:
        emulator.stop()


def test_a_failed_sign_of_a_disabled_version_is_an_http_error_in_the_sdk(sync_client, keyvault):
    key = sync_client.create_ec_key(unique(), curve="P-256")
    sync_client.update_key_properties(key.name, key.properties.version, enabled=False)
    with SyncCryptographyClient(key.id, SyncEmulatorCredential(), verify_challenge_resource=False,
                                connection_verify=keyvault.ca_bundle) as crypto:
        with pytest.raises(HttpResponseError) as info:
            crypto.sign(SignatureAlgorithm.es256, hashlib.sha256(b"m").digest())
    assert info.value.status_code == 403


def test_state_file_holds_the_keys_beside_the_secrets(keyvault):
    name = unique()
    call(keyvault, "POST", f"/keys/{name}/create", json={"kty": "EC"})
    state = json.loads((Path(keyvault.ca_bundle).parent / "keys.json").read_text())
    assert name in {k["name"] for k in state["keys"]}


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/keys"), ("HEAD", "/secrets"), ("PATCH", "/secrets/s/versions"),
                                              ("POST", "/keys/k/versions"), ("GET", "/keys/k/create")])
def test_fixed_sub_resources_are_not_versions_and_head_is_not_get(keyvault, method, path):
    response = call(keyvault, method, path)
    assert response.status_code == 405 and response.headers["Allow"]
    if method != "HEAD":
        assert error_of(response)["code"] == "MethodNotAllowed"
