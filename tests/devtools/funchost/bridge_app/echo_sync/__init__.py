"""def main with a context: echoes the request and the invocation context (runs in the runtime's thread pool)."""

import azure.functions as func
from bridge_shared.mirror import echo


def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    trace = context.trace_context
    return echo(req, kind="sync", function_name=context.function_name, invocation_id=context.invocation_id,
                traceparent=trace.trace_parent, tracestate=trace.trace_state,
                retry_count=context.retry_context.retry_count)
