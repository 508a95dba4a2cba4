"""Names of the gateway's tables: ``<TABLE_NAME_PREFIX><suffix>``.

The Bicep template (infra/) creates the same tables; keep the suffixes in step.
Table names: 3 to 63 letters and digits, starting with a letter
(https://learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model#table-names).
"""

from __future__ import annotations

from dataclasses import dataclass

ROUTES_TABLE_SUFFIX = "routes"
CLIENTS_TABLE_SUFFIX = "clients"
AUDIT_TABLE_SUFFIX = "audit"
FAILURES_TABLE_SUFFIX = "authfailures"  # the token endpoint's shared failure counters
REPLAY_TABLE_SUFFIX = "replay"  # client assertion ids already used (gateway.stores.tables.replay)
TABLE_SUFFIXES: tuple[str, ...] = (ROUTES_TABLE_SUFFIX, CLIENTS_TABLE_SUFFIX, AUDIT_TABLE_SUFFIX, FAILURES_TABLE_SUFFIX,
                                   REPLAY_TABLE_SUFFIX)


@dataclass(frozen=True)
class TableNames:
    routes: str
    clients: str
    audit: str
    failures: str
    replay: str

    @classmethod
    def for_prefix(cls, prefix: str) -> TableNames:
        """The table names for ``prefix`` (validated by ``TABLE_NAME_PREFIX``'s setting)."""
        return cls(routes=f"{prefix}{ROUTES_TABLE_SUFFIX}", clients=f"{prefix}{CLIENTS_TABLE_SUFFIX}",
                   audit=f"{prefix}{AUDIT_TABLE_SUFFIX}", failures=f"{prefix}{FAILURES_TABLE_SUFFIX}",
                   replay=f"{prefix}{REPLAY_TABLE_SUFFIX}")

    def all(self) -> tuple[str, ...]:
        return (self.routes, self.clients, self.audit, self.failures, self.replay)
