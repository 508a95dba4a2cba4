"""Administration API: routes, clients and secrets, signing keys, provider keys, audit trail, OpenAPI document.

Layers: ``endpoint`` (access, dispatch, refusals audited) -> ``handlers`` (parse, validate, render) -> the
resources of ``api.AdminApi`` (``TenantRoutes``, ``ClientRecords``, ``ClientSecrets``, ``SigningKeys``,
``ProviderKeys``, ``AuditTrail``: each built with exactly the stores it writes, doing the work and writing the
audit records).
"""
