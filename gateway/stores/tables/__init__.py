"""Table Storage (azure-data-tables) implementations of the route, client and audit stores.

Modules: ``names`` (table names, shared with infra/), ``continuation``
(opaque page tokens), ``entities`` (model <-> entity mapping), ``failures``
(SDK exceptions -> store errors), ``stores`` (the stores), ``service``
(the per-worker ``TableServiceClient`` from settings).
"""

from gateway.stores.tables.names import (
    AUDIT_TABLE_SUFFIX,
    CLIENTS_TABLE_SUFFIX,
    ROUTES_TABLE_SUFFIX,
    TABLE_SUFFIXES,
    TableNames,
)
from gateway.stores.tables.service import open_table_storage, table_service_client
from gateway.stores.tables.stores import TableAuditStore, TableClientStore, TableRouteStore, TableStorage

__all__ = [
    "AUDIT_TABLE_SUFFIX",
    "CLIENTS_TABLE_SUFFIX",
    "ROUTES_TABLE_SUFFIX",
    "TABLE_SUFFIXES",
    "TableAuditStore",
    "TableClientStore",
    "TableNames",
    "TableRouteStore",
    "TableStorage",
    "open_table_storage",
    "table_service_client",
]
