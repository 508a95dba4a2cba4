"""Store errors shared by every implementation (hierarchy drawn in ``gateway.stores.protocols``)."""


class StoreError(Exception):
    """Base of store errors. Messages name entities by key only, never by secret value."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class PreconditionFailed(StoreError):
    """The ETag given with ``if_match`` no longer matches (RFC 9110 §13.1.1)."""


class StoreUnavailable(StoreError):
    """The backing service is unreachable or failing; the operation may be retried later."""


class StoreThrottled(StoreUnavailable):
    """The service refused the call for its request rate (HTTP 429 or 503 Server Busy): retry no sooner than
    ``retry_after`` seconds (its ``Retry-After``; a default when it named none)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidContinuation(ValueError):
    """A ``continuation`` token this store did not issue (a client's mistake: answer 400, not 503)."""
