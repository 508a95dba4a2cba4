"""Client secrets: 256-bit values, verifiers that verify but do not reveal."""

from gateway.credentials import (
    check_verifier,
    hint_of,
    make_verifier,
    new_secret,
    secret_id_of,
    verifier_secret_name,
)


def test_new_secret_carries_its_id_and_256_random_bits():
    secret_id, secret = new_secret()
    assert secret_id_of(secret) == secret_id
    assert len(secret.split(".")[1]) == 43
    assert new_secret()[1] != secret


def test_verifier_accepts_the_secret_only():
    _, secret = new_secret()
    verifier = make_verifier(secret)
    assert check_verifier(verifier, secret)
    assert not check_verifier(verifier, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not check_verifier(verifier, "")
    assert secret not in verifier and secret.split(".")[1] not in verifier


def test_verifiers_are_salted():
    _, secret = new_secret()
    assert make_verifier(secret) != make_verifier(secret)


def test_malformed_verifiers_and_secrets_are_rejected_quietly():
    assert not check_verifier("garbage", "x")
    assert not check_verifier("md5$a$b", "x")
    assert not check_verifier("hmac-sha256$!!$!!", "x")
    assert secret_id_of("not-a-secret") is None
    assert secret_id_of(None) is None  # type: ignore[arg-type]


def test_hint_and_names():
    assert hint_of("abcdefgh") == "efgh"
    assert verifier_secret_name("gw", "c1", "s1") == "gw-client-c1-s1"
