"""The emulator's vault model (devtools.keyvault_emulator.vault) without HTTP: retention, limits, persistence."""

from __future__ import annotations

import json

import pytest

from devtools.keyvault_emulator.vault import MAX_TAGS, MAX_VALUE_BYTES, STATE_FILE, Vault, VaultError


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_deleted_secret_is_purged_by_itself_after_the_retention_period(tmp_path):
    clock = Clock()
    vault = Vault(tmp_path, recoverable_days=7, clock=clock)
    vault.set("s", {"value": "v"})
    deleted = vault.delete("s")
    assert deleted.scheduled_purge_date == deleted.deleted_date + 7 * 86400
    clock.now += 7 * 86400 - 1
    assert vault.deleted("s").name == "s"
    clock.now += 1
    with pytest.raises(VaultError) as info:
        vault.deleted("s")
    assert info.value.status == 404
    vault.set("s", {"value": "reused"})  # the name is free again


@pytest.mark.parametrize("body", [{"value": "x" * (MAX_VALUE_BYTES + 1)},
                                  {"value": "v", "tags": {f"t{i}": "v" for i in range(MAX_TAGS + 1)}},
                                  {"value": "v", "attributes": {"enabled": "yes"}},
                                  {"value": "v", "contentType": 3}, ["value"]])
def test_set_refuses_what_key_vault_refuses(tmp_path, body):
    vault = Vault(tmp_path)
    with pytest.raises(VaultError) as info:
        vault.set("s", body)
    assert (info.value.status, info.value.code) == (400, "BadParameter")
    assert vault.list_active() == []


def test_update_clears_expiry_when_exp_is_null(tmp_path):
    vault = Vault(tmp_path)
    vault.set("s", {"value": "v", "attributes": {"exp": 1900000000}})
    _, version = vault.update("s", None, {"attributes": {"exp": None}})
    assert version.exp is None


def test_state_file_is_replaced_whole_and_reloads(tmp_path):
    vault = Vault(tmp_path)
    vault.set("Alpha", {"value": "a", "tags": {"k": "v"}})
    vault.save()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["secrets"][0]["name"] == "Alpha"
    reloaded = Vault(tmp_path)
    secret, version = reloaded.version("alpha", None)
    assert (secret.name, version.value, version.tags) == ("Alpha", "a", {"k": "v"})
