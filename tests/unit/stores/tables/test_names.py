"""Table names (gateway/stores/tables/names.py): the ones the Bicep template creates too."""

from gateway.stores.tables.names import TABLE_SUFFIXES, TableNames


def test_names_are_the_prefix_and_the_suffix() -> None:
    names = TableNames.for_prefix("gw")
    assert (names.routes, names.clients, names.audit) == ("gwroutes", "gwclients", "gwaudit")
    assert names.all() == tuple(f"gw{suffix}" for suffix in TABLE_SUFFIXES)


def test_names_are_valid_table_names_for_the_longest_prefix() -> None:
    for name in TableNames.for_prefix("a" + "9" * 19).all():
        assert 3 <= len(name) <= 63 and name.isalnum() and name[0].isalpha()
