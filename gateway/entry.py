"""The one entry adapter of the four functions: the settings, this worker's services, then the surface.

Each function exposes a :class:`Surface`: how it answers a request given the
services, and how it renders a failure in its own format (OAuth JSON for the
token endpoint, OperationOutcome for FHIR, problem details for admin). What
happens before a surface runs, and what escapes it, is answered here the same
way for all four::

    the settings cannot be read            -> 500  misconfigured  (the log names the setting, never its value)
    the stores cannot be opened            -> 503  unavailable, Retry-After
    a store did not answer in time         -> 503  unavailable, Retry-After
    anything else escapes the surface      -> 500  internal       (the log names the exception type only)

Opening the stores (a cold worker creates missing tables, lists Key Vault
secrets) is bounded by ``STORE_TIMEOUT_SECONDS`` from the request's arrival;
the surface gets that deadline for its own store work. A surface that
answers some requests without stores (the metadata documents, the authorize
stub) says so with ``answer_early`` and never opens them for those.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.config import Settings, SettingsError, current_settings
from gateway.failure import Failure
from gateway.http import Request, Response
from gateway.services import Services, built_services, current_services
from gateway.stores.errors import StoreError

logger = logging.getLogger("gateway.entry")

Respond = Callable[[Request, Services, float], Awaitable[Response]]
"""(request, services, deadline): the deadline is the event-loop time by which store work must be done. A
surface's ``respond`` hands the request to the one part of the worker's services that answers it."""
AnswerEarly = Callable[[Request, Settings], Response | None]
RenderFailure = Callable[[Failure, Request, Settings | None], Response]


def _no_early_answer(request: Request, settings: Settings) -> Response | None:
    return None


@dataclass(frozen=True)
class Surface:
    """One function's entry point; calling it handles one request (``gateway.azure_http.serve`` adapts it)."""

    name: str
    respond: Respond
    render_failure: RenderFailure
    answer_early: AnswerEarly = _no_early_answer
    bounded: bool = False
    """True: the whole request is answered within STORE_TIMEOUT_SECONDS (it only talks to the stores)."""

    async def __call__(self, request: Request) -> Response:
        return await enter(self, request)


async def enter(surface: Surface, request: Request) -> Response:
    """Handle one request on ``surface`` (see the module docstring)."""
    loop = asyncio.get_running_loop()
    arrived = loop.time()
    try:
        settings = current_settings()
    except SettingsError as error:
        return _failed(surface, Failure.MISCONFIGURED, request, None, f"setting={error.setting}")
    early = surface.answer_early(request, settings)
    if early is not None:
        return early
    deadline = arrived + settings.store_timeout_seconds
    services = built_services()
    if services is None:
        try:
            # Shielded: a slow first opening keeps going for the next request instead of starting over.
            services = await asyncio.wait_for(asyncio.shield(current_services()), settings.store_timeout_seconds)
        except SettingsError as error:  # a store setting only checked when the stores are opened
            return _failed(surface, Failure.MISCONFIGURED, request, settings, f"setting={error.setting}")
        except Exception as exc:  # noqa: BLE001 - unreachable or hung stores, refused credentials
            return _failed(surface, Failure.UNAVAILABLE, request, settings,
                           f"opening stores type={type(exc).__name__}")
    try:
        if surface.bounded:
            async with asyncio.timeout_at(deadline):
                return await surface.respond(request, services, deadline)
        return await surface.respond(request, services, deadline)
    except TimeoutError:
        return _failed(surface, Failure.UNAVAILABLE, request, settings, "stores did not answer in time")
    except StoreError as exc:
        return _failed(surface, Failure.UNAVAILABLE, request, settings, f"store type={type(exc).__name__}")
    except Exception as exc:  # noqa: BLE001 - never a stack trace to the caller
        return _failed(surface, Failure.INTERNAL, request, settings, f"unexpected type={type(exc).__name__}",
                       exc_info=logger.isEnabledFor(logging.DEBUG))


def _failed(surface: Surface, failure: Failure, request: Request, settings: Settings | None, what: str, *,
            exc_info: bool = False) -> Response:
    logger.error("%s: %s (%s) request_id=%s", surface.name, failure.value, what, request.request_id,
                 exc_info=exc_info)
    return surface.render_failure(failure, request, settings)
