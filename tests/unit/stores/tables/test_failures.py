"""SDK exceptions to the store error contract (gateway/stores/tables/failures.py)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from gateway.stores.errors import AlreadyExists, NotFound, PreconditionFailed, StoreError, StoreUnavailable
from gateway.stores.tables.failures import TableMissing, storage_errors, translate


class FakeResponse:
    """Just what HttpResponseError reads from a response."""

    def __init__(self, status: int, code: str = "", body: str = "") -> None:
        self.status_code = status
        self.reason = "X"
        self.headers = {"x-ms-error-code": code} if code else {}
        self._body = body
        self.request = None

    def text(self, encoding: str | None = None) -> str:
        return self._body


def http_error(cls: type[HttpResponseError], status: int, code: str = "", body: str = "") -> HttpResponseError:
    return cls(response=FakeResponse(status, code, body))


@pytest.mark.parametrize(("error", "expected"), [
    (http_error(ResourceExistsError, 409, "EntityAlreadyExists"), AlreadyExists),
    (http_error(ResourceExistsError, 409, "TableBeingDeleted"), StoreUnavailable),
    (http_error(ResourceModifiedError, 412, "UpdateConditionNotSatisfied"), PreconditionFailed),
    (http_error(ResourceNotFoundError, 404, "ResourceNotFound"), NotFound),
    (http_error(ResourceNotFoundError, 404, "TableNotFound"), TableMissing),
    (http_error(ResourceNotFoundError, 404, body='{"odata.error":{"code":"TableNotFound"}}'), TableMissing),
    (http_error(HttpResponseError, 503, "ServerBusy"), StoreUnavailable),
    (http_error(HttpResponseError, 500), StoreUnavailable),
    (http_error(HttpResponseError, 429), StoreUnavailable),
    (http_error(HttpResponseError, 403, "AuthorizationPermissionMismatch"), StoreUnavailable),
    (ServiceRequestError("Cannot connect to host 127.0.0.1:1"), StoreUnavailable),
    (ServiceResponseError("read timeout"), StoreUnavailable),
    (TimeoutError(), StoreUnavailable),
    (ConnectionResetError(), StoreUnavailable),
])
def test_translation(error: Exception, expected: type[StoreError]) -> None:
    assert type(translate(error, "gwroutes", "get")) is expected


def test_other_refusals_are_plain_store_errors_naming_status_and_code() -> None:
    translated = translate(http_error(HttpResponseError, 400, "PropertyValueTooLarge"), "gwaudit", "append")
    assert type(translated) is StoreError
    assert str(translated) == "append on table gwaudit: the service refused the request (400 PropertyValueTooLarge)"


def test_table_missing_is_a_store_unavailable() -> None:
    assert issubclass(TableMissing, StoreUnavailable)


def test_storage_errors_chains_the_sdk_error_and_leaves_others_alone() -> None:
    with pytest.raises(StoreUnavailable) as caught, storage_errors("gwroutes", "get"):
        raise ServiceRequestError("down")
    assert isinstance(caught.value.__cause__, ServiceRequestError)
    with pytest.raises(KeyError), storage_errors("gwroutes", "get"):
        raise KeyError("programming error")
