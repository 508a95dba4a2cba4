"""FHIR documents the gateway itself produces: OperationOutcome, CapabilityStatement, media types."""
