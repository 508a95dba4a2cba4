"""The admin audit trail: one record per change or refused change, and its listing (``GET /manage/audit``).

A record names the actor, the action, the target, the outcome (``success`` or ``failed:<status> <reason>``)
and details such as ``changes`` (``gateway.admin.audit_changes``); never a secret value. A failure to write
the record is logged: the change it describes has already happened.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from gateway.admin.actor import Actor
from gateway.admin.attempts import answered
from gateway.admin.openapi_parts import TIMESTAMP, json_body, page_schema
from gateway.admin.operation import Call, Operation
from gateway.admin.paging import decode_continuation, next_link, page_size_of
from gateway.admin.problems import FieldError, Problem, bad_request, validation_failed
from gateway.admin.requests import query_time
from gateway.admin.views import audit_json, timestamp
from gateway.admin.writes import store_call
from gateway.clock import Clock
from gateway.http import Response, json_response
from gateway.stores.errors import StoreError
from gateway.stores.models import AuditRecord, Page
from gateway.stores.protocols import AuditStore

logger = logging.getLogger("gateway.admin")


def late() -> dict[str, Any]:
    """Audit detail of an irreversible last step that landed after the caller was answered 503."""
    return {"completedAfterAnswer": True} if answered() else {}


class AuditTrail:
    """The audit records in ``store``, stamped by ``clock``."""

    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def record(self, actor: Actor, action: str, target_type: str, target_id: str, outcome: str = "success",
                     **details: Any) -> None:
        """Append one audit record. A failure to audit is logged (the change itself already happened)."""
        entry = AuditRecord(action=action, target_type=target_type, target_id=target_id, actor=actor.name,
                            timestamp=self._clock.now(), request_id=actor.request_id,
                            source_address=actor.source_address, outcome=outcome, details=details)
        try:
            await self._store.append(entry)
        except StoreError as exc:
            logger.error("audit write failed action=%s target=%s/%s request_id=%s error=%s", action, target_type,
                         target_id, actor.request_id, type(exc).__name__)

    async def refusal(self, actor: Actor, action: str, target_type: str, target_id: str, status: int,
                      reason: str) -> None:
        """Record a change that was refused or failed (``outcome`` = ``failed:<status> <reason>``)."""
        await self.record(actor, action, target_type, target_id, outcome=f"failed:{status} {reason}")

    async def refused(self, actor: Actor, action: str, target_type: str, target_id: str, reason: str,
                      errors: list[FieldError]) -> Problem:
        """A 422 for a refused credential change, audited here like every refused change (``failed:422 <reason>``),
        with the reason and the fields in the details; never a value."""
        await self.record(actor, action, target_type, target_id, outcome=f"failed:422 {reason}", reason=reason,
                          fields=[e.field for e in errors])
        problem = validation_failed(errors)
        problem.audited = True
        return problem

    async def require(self) -> None:
        """Refuse (503) a change Key Vault alone could make while the audit table cannot record it."""
        await store_call(self._store.query(page_size=1))

    async def list(self, *, since: datetime | None = None, until: datetime | None = None, page_size: int = 100,
                   continuation: str | None = None) -> Page[AuditRecord]:
        """Audit records between ``since`` and ``until``, a page at a time."""
        return await store_call(self._store.query(since=since, until=until, page_size=page_size,
                                                  continuation=continuation))


# -- HTTP --------------------------------------------------------------------------------------------------------

async def list_audit(call: Call, audit: AuditTrail) -> Response:
    request = call.request
    since, until = query_time(request, "since"), query_time(request, "until")
    if since is not None and until is not None and since > until:
        raise bad_request("since must not be after until.", "since")
    size = page_size_of(request)
    page = await audit.list(since=since, until=until, page_size=size,
                            continuation=decode_continuation(request.query_value("continuation")))
    extra = {k: v for k, v in (("since", timestamp(since)), ("until", timestamp(until))) if v}
    return json_response(200, {
        "items": [audit_json(r) for r in page.items],
        "nextLink": next_link(call.settings.public_base_url, "/manage/audit", page.continuation, size, extra),
    })


SCHEMAS: dict[str, Any] = {
    "AuditRecord": {
        "type": "object",
        "required": ["recordId", "timestamp", "actor", "action", "targetType", "targetId", "outcome"],
        "properties": {
            "recordId": {"type": "string"},
            "timestamp": TIMESTAMP,
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "targetType": {"type": "string"},
            "targetId": {"type": "string"},
            "requestId": {"type": "string"},
            "sourceAddress": {"type": "string"},
            "outcome": {"type": "string",
                        "description": "`success`; `refused` (a credential change the rules refuse, with "
                                       "`details.reason`); `failed:<status> <reason>` (any other refusal)."},
            "details": {"type": "object",
                        "description": "`changes`: each changed field as {old, new} (secrets as \"(set)\", "
                                       "\"(replaced)\" or null, never a value); `completedAfterAnswer`: a "
                                       "deletion or rotation whose last step landed after a 503 answer."},
        },
    },
    "AuditPage": page_schema("AuditRecord"),
}

OPERATIONS: tuple[Operation[AuditTrail], ...] = (
    Operation("GET", "/manage/audit", AuditTrail, list_audit, "listAudit", "Audit records, newest first (paged).",
              "audit", {"200": json_body("AuditPage", "A page of records.")},
              parameters=("since", "until", "pageSize", "continuation")),
)
