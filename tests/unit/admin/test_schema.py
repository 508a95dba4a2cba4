"""The JSON Schema subset validator: messages name fields, never values."""

from __future__ import annotations

from gateway.admin.openapi import schema_root
from gateway.admin.schema import Validator

V = Validator(schema_root())


def fields(instance, schema_name):
    return {e.field: e.message for e in V.validate(instance, {"$ref": f"#/components/schemas/{schema_name}"})}


def test_valid_route_input_has_no_errors():
    assert fields({"fhirBaseUrl": "https://fhir.example.org/r3", "fhirVersion": "STU3",
                   "upstreamAuth": {"type": "managedIdentity", "scope": "api://x/.default"},
                   "timeouts": {"connectSeconds": None, "readSeconds": 10}}, "RouteInput") == {}


def test_types_booleans_are_not_numbers_and_integers_are_numbers():
    errors = fields({"fhirBaseUrl": "https://x", "fhirVersion": "STU3", "timeouts": {"connectSeconds": True}},
                    "RouteInput")
    assert "timeouts/connectSeconds" in errors
    assert fields({"fhirBaseUrl": "https://x", "fhirVersion": "STU3", "timeouts": {"readSeconds": 3}},
                  "RouteInput") == {}


def test_messages_never_repeat_the_value():
    secret = "super-secret-value-" + "x" * 2000
    errors = V.validate({"type": "clientCredentials", "tokenUrl": "https://x/t", "clientId": "c",
                         "clientSecret": secret}, {"$ref": "#/components/schemas/UpstreamAuthInput"})
    assert errors and all(secret[:10] not in e.message for e in errors)


def test_pattern_rejects_trailing_newline():
    errors = fields({"displayName": "x", "allowedTenants": ["72f988bf-86f1-41af-91ab-2d7cd011db47\n"]},
                    "ClientCreate")
    assert "allowedTenants/0" in errors


def test_discriminator_reports_unknown_type():
    assert "upstreamAuth/type" in fields({"fhirBaseUrl": "https://x", "fhirVersion": "STU3",
                                          "upstreamAuth": {"type": 3}}, "RouteInput")
    assert "upstreamAuth" in fields({"fhirBaseUrl": "https://x", "fhirVersion": "STU3", "upstreamAuth": []},
                                    "RouteInput")


def test_uri_format_needs_scheme_and_host():
    for bad in ("fhir.example.org", "https://", "javascript:alert(1)", "https://x:99999/"):
        assert "fhirBaseUrl" in fields({"fhirBaseUrl": bad, "fhirVersion": "STU3"}, "RouteInput")
