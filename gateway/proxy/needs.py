"""What a proxied request needs of the token's SMART scopes: one :class:`Need` per permission, and the one error.

SMART App Launch 2.x, "Scopes for requesting FHIR resources": a request is allowed when every permission it
needs is granted. ``resource_type`` None stands for *every* type at once, which only ``system/*`` scopes grant.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.scopes import Interaction, SmartScopes


class ScopeRefused(Exception):
    """The request is outside the token's scopes, or cannot be checked (403); the message names types and
    parameter kinds, never a value of the request."""


@dataclass(frozen=True)
class Need:
    """One permission a request needs: ``interaction`` on ``resource_type`` (None: every type).

    ``included``: resources of the type may appear in the answer (``_include``/``_revinclude``), which any
    read access (``r`` or ``s``) to the type allows.
    """

    resource_type: str | None
    interaction: Interaction
    included: bool = False

    @classmethod
    def returned(cls, resource_type: str | None) -> Need:
        """Resources of ``resource_type`` (None: of any type) may be in the answer: r or s on it."""
        return cls(resource_type, "read", included=True)

    def met_by(self, scopes: SmartScopes) -> bool:
        if self.included:
            return scopes.readable(self.resource_type)
        return scopes.allows(self.resource_type, self.interaction)

    def refusal(self) -> ScopeRefused:
        """The 403 this need gives when the scopes do not meet it."""
        target = "every resource type" if self.resource_type is None else self.resource_type
        if self.included:
            return ScopeRefused(f"The token's scopes do not allow returning {target}.")
        return ScopeRefused(f"The token's scopes do not allow {self.interaction} on {target}.")


def unique(needs: list[Need]) -> list[Need]:
    """``needs`` without repeats, first occurrence kept (the first refusal is the one reported)."""
    return list(dict.fromkeys(needs))
