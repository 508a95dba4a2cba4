"""Translation of azure-data-tables / azure-core exceptions into the store error contract.

    ResourceExistsError (409)            -> AlreadyExists
    ResourceModifiedError (412)          -> PreconditionFailed
    ResourceNotFoundError (404)          -> NotFound (TableNotFound: TableMissing, a StoreUnavailable)
    401/403, 408, 429, 5xx               -> StoreUnavailable
    ServiceRequestError (connect failed),
    ServiceResponseError (read failed or timed out),
    other AzureError, asyncio timeouts   -> StoreUnavailable
    other HttpResponseError (4xx)        -> StoreError (a request the service refused)

Messages name the table, the operation and the status only: never a value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from gateway.stores.errors import AlreadyExists, NotFound, PreconditionFailed, StoreError, StoreUnavailable

_UNAVAILABLE_STATUSES = {401, 403, 408, 429}


class TableMissing(StoreUnavailable):
    """The table does not exist (not created yet, or Azurite's data was wiped); the stores create it and retry."""


def error_code(error: HttpResponseError) -> str:
    """The service's error code (``TableNotFound``...), also for errors the SDK re-raises undecoded."""
    code = getattr(error, "error_code", None)
    if isinstance(code, Enum):  # TableErrorCode: str() would give "TableErrorCode.TABLE_NOT_FOUND"
        code = code.value
    if code:
        return str(code)
    response = getattr(error, "response", None)
    if response is None:
        return ""
    code = response.headers.get("x-ms-error-code")
    if code:
        return str(code)
    try:
        return str(json.loads(response.text())["odata.error"]["code"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def translate(error: BaseException, table: str, operation: str) -> StoreError:
    """The store error for an exception raised by the Tables SDK."""
    where = f"{operation} on table {table}"
    if isinstance(error, HttpResponseError):
        status = error.status_code or 0
        code = error_code(error)
        if isinstance(error, ResourceModifiedError) or status == 412:
            return PreconditionFailed(f"{where}: the entity changed since it was read (ETag mismatch)")
        if isinstance(error, ResourceExistsError) and code != "TableBeingDeleted":
            return AlreadyExists(f"{where}: the key already exists")
        if isinstance(error, ResourceNotFoundError) or status == 404:
            if code == "TableNotFound":
                return TableMissing(f"{where}: the table does not exist")
            return NotFound(f"{where}: no such entity")
        if status >= 500 or status in _UNAVAILABLE_STATUSES or code == "TableBeingDeleted":
            return StoreUnavailable(f"{where}: the service answered {status} {code}".rstrip())
        return StoreError(f"{where}: the service refused the request ({status} {code})".rstrip())
    if isinstance(error, AzureError | OSError):
        return StoreUnavailable(f"{where}: the service cannot be reached ({type(error).__name__})")
    raise TypeError(f"not a storage error: {type(error).__name__}")  # pragma: no cover - guarded by callers


@contextmanager
def storage_errors(table: str, operation: str) -> Iterator[None]:
    """Raise the store error for any SDK or transport exception raised inside the block."""
    try:
        yield
    except (AzureError, OSError) as error:  # TimeoutError (asyncio's too) is an OSError
        raise translate(error, table, operation) from error
