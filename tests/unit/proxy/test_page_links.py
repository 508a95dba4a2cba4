"""Page links the gateway signs (gateway.proxy.page_links): accepted for exactly the link, tenant and client they
were signed for, with an accepted key, before they expire; nothing else is."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from gateway.proxy import page_links
from gateway.proxy.needs import Need
from gateway.proxy.page_links import InvalidPageLink, derive_page_key, sign, split_token, verify
from tests.support.constants import OTHER_TENANT, TENANT

KID = "20261201000000-00000000000000aa"
OLD_KID = "20261101000000-00000000000000bb"
NOW = 1_900_000_000
LINK = "?_getpages=5c1a&_getpagesoffset=2&_count=2&_bundletype=searchset"
NEEDS = (Need("Observation", "search-type"), Need("Location", "read", included=True), Need(None, "search-system"))


class Keys:
    """Two accepted keys (the current one signs); a retired kid is unknown."""

    def __init__(self, signing: str = KID) -> None:
        self.signing = signing
        self.keys = {KID: derive_page_key(b"material-1", KID), OLD_KID: derive_page_key(b"material-0", OLD_KID)}

    def signing_key(self) -> tuple[str, bytes]:
        return self.signing, self.keys[self.signing]

    def verifying_key(self, kid: str) -> bytes | None:
        return self.keys.get(kid)


def token(keys: Keys | None = None, **changes: object) -> str:
    arguments: dict = {"continuation": LINK, "tenant": TENANT, "client_id": "backend-app", "needs": NEEDS,
                       "expires": NOW + 300, **changes}
    return sign(keys or Keys(), **arguments)


def check(text: str, **changes: object) -> tuple[Need, ...]:
    arguments: dict = {"continuation": LINK, "tenant": TENANT, "client_id": "backend-app", "now": NOW, **changes}
    return verify(Keys(), text, **arguments)


def test_a_link_signed_for_this_caller_gives_back_its_needs():
    assert check(token()) == NEEDS


def test_a_link_signed_with_the_previous_key_is_still_accepted():
    assert check(token(Keys(OLD_KID))) == NEEDS


@pytest.mark.parametrize("changes", [
    {"continuation": LINK + "&_type=Patient"}, {"continuation": LINK.replace("5c1a", "5c1b")},
    {"continuation": "?" + LINK}, {"continuation": LINK[:-1]}, {"tenant": OTHER_TENANT},
    {"client_id": "another-app"}, {"now": NOW + 300}, {"now": NOW + 10_000},
])
def test_anything_else_than_what_was_signed_is_refused(changes):
    with pytest.raises(InvalidPageLink):
        check(token(), **changes)


def test_a_link_expires_exactly_at_its_expiry():
    assert check(token(), now=NOW + 299.999) == NEEDS
    with pytest.raises(InvalidPageLink, match="expired"):
        check(token(), now=NOW + 300)


def test_a_retired_or_unknown_key_is_refused():
    class Retired(Keys):
        def verifying_key(self, kid: str) -> bytes | None:
            return None

    with pytest.raises(InvalidPageLink, match="key"):
        verify(Retired(), token(), continuation=LINK, tenant=TENANT, client_id="backend-app", now=NOW)


def parts(text: str) -> list[str]:
    return text.split(".")


@pytest.mark.parametrize("field", [1, 2, 3, 4])
def test_changing_any_part_of_the_token_breaks_it(field):
    pieces = parts(token())
    original = pieces[field]
    pieces[field] = ("A" if original[0] != "A" else "B") + original[1:]
    with pytest.raises(InvalidPageLink):
        check(".".join(pieces))


def test_needs_cannot_be_widened_without_the_key():
    pieces = parts(token())
    wider = json.dumps([["*", "search-system", 0]], separators=(",", ":")).encode()
    pieces[3] = base64.urlsafe_b64encode(wider).rstrip(b"=").decode()
    with pytest.raises(InvalidPageLink, match="not signed"):
        check(".".join(pieces))


@pytest.mark.parametrize("text", ["", "v1", "v2." + token()[3:], token() + ".x", token()[:-1], token() + "A",
                                  token().replace(".", "%2E"), " " + token(), token().upper()])
def test_malformed_tokens_are_refused(text):
    with pytest.raises(InvalidPageLink):
        check(text)


def test_a_signed_token_with_needs_the_gateway_never_writes_is_refused():
    """Even under a valid MAC (a key leak, a bug), only needs the gateway writes come out of a token."""
    for rows in ([["patient", "read", 0]], [["Patient", "admin", 0]], [["Patient", "read", 2]],
                 [["Patient", "read", True]], [["Patient", "read"]], {"a": 1}, [[1, "read", 0]],
                 [["Patient", "read", 0]] * (page_links.MAX_NEEDS + 1)):
        encoded = base64.urlsafe_b64encode(json.dumps(rows).encode()).rstrip(b"=").decode()
        with pytest.raises(InvalidPageLink, match="needs"):
            page_links.decode_needs(encoded)
    with pytest.raises(InvalidPageLink) as info:
        page_links.decode_needs("!!!!")
    assert str(info.value) == "the page token's needs cannot be read"


def test_needs_round_trip_through_their_encoding():
    assert page_links.decode_needs(page_links.encode_needs(NEEDS)) == NEEDS
    assert page_links.decode_needs(page_links.encode_needs([])) == ()


def test_a_key_id_that_would_break_the_token_format_cannot_sign():
    class DottedKid(Keys):
        def signing_key(self) -> tuple[str, bytes]:
            return "kid.with.dots", b"k" * 32

    with pytest.raises(ValueError):
        token(DottedKid())


def test_page_keys_differ_per_key_id_and_material_and_are_32_bytes():
    assert len(derive_page_key(b"material", KID)) == 32
    assert derive_page_key(b"material", KID) == derive_page_key(b"material", KID)
    assert derive_page_key(b"material", KID) != derive_page_key(b"material", OLD_KID)
    assert derive_page_key(b"material", KID) != derive_page_key(b"other", KID)


@pytest.mark.parametrize(("query", "split"), [
    ("a=1&_gateway_page=T", ("a=1", "T")),
    ("_gateway_page=T", ("", "T")),
    ("a=1&_gateway_page=", ("a=1", "")),
    ("a=1&_gateway_page=T&b=2", ("a=1&_gateway_page=T&b=2", None)),
    ("_gateway_page=S&a=1&_gateway_page=T", ("_gateway_page=S&a=1&_gateway_page=T", None)),
    ("a=1&_gateway_pageX=T", ("a=1&_gateway_pageX=T", None)),
    ("a=1&_gateway_page", ("a=1&_gateway_page", None)),
    ("a=1&%5Fgateway_page=T", ("a=1&%5Fgateway_page=T", None)),
    ("a=1", ("a=1", None)),
])
def test_only_a_single_token_as_the_last_parameter_is_taken(query, split):
    assert split_token(query) == split


def test_a_link_gets_the_token_as_its_last_parameter():
    assert page_links.link_with_token("https://gw/fhir?a=1", "T") == "https://gw/fhir?a=1&_gateway_page=T"
    assert page_links.link_with_token("https://gw/fhir", "T") == "https://gw/fhir?_gateway_page=T"
    url = page_links.link_with_token("https://gw/fhir" + LINK, token())
    assert split_token(url.partition("?")[2]) == (LINK[1:], token())


def test_a_token_may_carry_exactly_as_many_needs_as_the_limit():
    needs = [Need(f"T{n}", "read") for n in range(page_links.MAX_NEEDS)]
    assert page_links.decode_needs(page_links.encode_needs(needs)) == tuple(needs)


def hkdf_sha256(material: bytes, salt: bytes, info: bytes) -> bytes:
    """RFC 5869 written out (one block: 32 bytes), to check the derivation against the standard."""
    prk = hmac.new(salt, material, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_the_page_key_is_hkdf_sha256_with_the_documented_salt_and_the_kid_as_info():
    assert derive_page_key(b"material-1", KID) == hkdf_sha256(b"material-1", b"fhir-gateway/page-links/v1",
                                                              KID.encode())


def test_the_token_format_is_stable_across_instances_and_releases():
    """Every instance must accept what another signed: the MAC input is compact JSON of the documented fields."""
    key = Keys().keys[KID]
    needs = page_links.encode_needs(NEEDS)
    signed = json.dumps(["v1", KID, str(NOW + 300), needs, TENANT, "backend-app", LINK], separators=(",", ":"))
    mac = base64.urlsafe_b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    assert token() == f"v1.{KID}.{NOW + 300}.{needs}.{mac}"
    assert needs == base64.urlsafe_b64encode(json.dumps(
        [["Observation", "search-type", 0], ["Location", "read", 1], ["*", "search-system", 0]],
        separators=(",", ":")).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(("text", "message"), [
    ("x", "not a page token"),
    ("v1.20261101000000-00000000000000cc.1900000300.W10." + "A" * 43, "the page token's key is not accepted"),
])
def test_each_refusal_says_why(text, message):
    with pytest.raises(InvalidPageLink) as info:
        check(text)
    assert str(info.value) == message


def test_a_wrong_mac_and_an_expiry_say_exactly_why():
    with pytest.raises(InvalidPageLink) as info:
        check(token(), tenant=OTHER_TENANT)
    assert str(info.value) == "the page token was not signed for this link and caller"
    with pytest.raises(InvalidPageLink) as info:
        check(token(), now=NOW + 300)
    assert str(info.value) == "the page token has expired"
    with pytest.raises(InvalidPageLink) as info:
        page_links.decode_needs(base64.urlsafe_b64encode(b'[["x","read",0]]').decode())
    assert str(info.value) == "the page token's needs cannot be read"
    for rows in (b'{"a":1}', b'[["Patient","nothing",0]]'):
        with pytest.raises(InvalidPageLink) as info:
            page_links.decode_needs(base64.urlsafe_b64encode(rows).decode())
        assert str(info.value) == "the page token's needs cannot be read"


def test_a_key_id_that_cannot_sign_says_why():
    class DottedKid(Keys):
        def signing_key(self) -> tuple[str, bytes]:
            return "kid.with.dots", b"k" * 32

    with pytest.raises(ValueError) as info:
        token(DottedKid())
    assert str(info.value) == "a page key id must be 1-64 URL-safe characters"


@pytest.mark.parametrize("data", [b"\x00\x00\x17", b"\xff", b"\xff\xfe", b"", b"\x00\x00\x17\x00\x00\x17"])
def test_base64url_without_padding_round_trips(data):
    assert "=" not in page_links._b64(data)
    assert page_links._unb64(page_links._b64(data)) == data
