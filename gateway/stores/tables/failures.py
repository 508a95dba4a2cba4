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
import logging
import time
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

logger = logging.getLogger("gateway.stores")

_UNAVAILABLE_STATUSES = {401, 403, 408, 429}


class TableMissing(StoreUnavailable):
    """The table does not exist (the deployment has not created it, or Azurite's data was wiped). Workers never
    create a table: the call fails as unavailable (503) and the missing table is logged (:func:`report_missing`)."""


MISSING_TABLE_LOG_SECONDS = 60.0
"""A missing table is logged at most this often (per table and worker): every request finds it missing."""
_missing_logged: dict[str, float] = {}


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


def report_missing(table: str) -> None:
    """Log, at most every ``MISSING_TABLE_LOG_SECONDS``, that ``table`` does not exist and who creates it."""
    now = time.monotonic()
    if now - _missing_logged.get(table, float("-inf")) < MISSING_TABLE_LOG_SECONDS:
        return
    _missing_logged[table] = now
    logger.error("table %s does not exist: requests that need it answer 503 until the deployment creates it "
                 "(the Bicep template in infra/; locally `make run`); workers never create tables", table)


@contextmanager
def storage_errors(table: str, operation: str) -> Iterator[None]:
    """Raise the store error for any SDK or transport exception raised inside the block."""
    try:
        yield
    except (AzureError, OSError) as error:  # TimeoutError (asyncio's too) is an OSError
        translated = translate(error, table, operation)
        if isinstance(translated, TableMissing):
            report_missing(table)
        raise translated from error
