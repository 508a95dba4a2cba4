"""Microsoft's Python Functions runtime (``azure-functions-runtime-v1``), driven as the proxy worker drives it.

From Python 3.13 the Functions Python worker is a thin proxy (in the host image) that passes the
host's gRPC messages to this runtime's coroutines; ``workers/proxy_worker/dispatcher.py`` in
Azure/azure-functions-python-worker gives the sequence reproduced here, in-process and without gRPC:

1. ``start_threadpool_executor()``, then ``worker_init_request`` with the protos module and the host
   (``properties={"protos": protos, "host": ...}``);
2. ``functions_metadata_request`` (the runtime answers "use default indexing": the host reads
   ``function.json`` itself);
3. one ``function_load_request`` per function, with the ``RpcFunctionMetadata`` the host builds from
   its ``function.json``;
4. one ``invocation_request`` per call, carrying the trigger's ``RpcHttp`` and the trace context.

The runtime keeps its function registry in module globals: one registry per worker process, so one
:class:`Worker` per process (:func:`get_worker`). ``function_environment_reload_request`` is never
sent: it exists for placeholder specialisation and clears ``os.environ``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure_functions_runtime_v1 as runtime
from azure_functions_runtime_v1.version import VERSION as RUNTIME_VERSION

from .protos import load_protos

HOST_VERSION = "4"  # the Functions host major version the local host stands for (informational for the runtime)
_DIRECTIONS = {"in": 0, "out": 1, "inout": 2}  # BindingInfo.Direction
_DATA_TYPES = {"string": 1, "binary": 2, "stream": 3}  # BindingInfo.DataType (undefined: 0)


@dataclass
class WorkerRequest:
    """What the proxy worker hands each runtime coroutine: the host's message and, at init, its properties."""

    name: str
    request: Any
    properties: dict[str, Any] = field(default_factory=dict)


def traceparent(incoming: str | None) -> str:
    """The ``Activity.Id`` the host's request activity gets (W3C Trace Context, section 3.2).

    A valid incoming ``traceparent`` makes it a child (same trace id and flags, a new span id);
    otherwise a new trace starts, unsampled (flags ``00``).
    """
    if incoming:
        parts = incoming.strip().lower().split("-")
        if (len(parts) >= 4 and len(parts[0]) == 2 and parts[0] != "ff" and (parts[0] != "00" or len(parts) == 4)
                and len(parts[1]) == 32
                and len(parts[2]) == 16 and len(parts[3]) == 2 and parts[1] != "0" * 32 and parts[2] != "0" * 16
                and all(c in "0123456789abcdef" for c in "".join(parts[:4]))):
            return f"00-{parts[1]}-{os.urandom(8).hex()}-{parts[3]}"
    ids = os.urandom(24).hex()
    return f"00-{ids[:32]}-{ids[32:]}-00"


class Worker:
    """The process's Functions runtime: init once, load each function, invoke."""

    def __init__(self, protos: ModuleType) -> None:
        self.protos = protos
        self.version = RUNTIME_VERSION
        self.capabilities: dict[str, str] = {}  # what the runtime announced at init (e.g. RawHttpBodyBytes)
        self._started = False

    async def start(self, app_directory: Path) -> None:
        """``worker_init_request`` then ``functions_metadata_request`` (once per process)."""
        if self._started:
            return
        protos = self.protos
        runtime.start_threadpool_executor()
        init = protos.StreamingMessage(worker_init_request=protos.WorkerInitRequest(
            host_version=HOST_VERSION, function_app_directory=str(app_directory),
            worker_directory=str(Path(runtime.__file__).parent)))
        response = await runtime.worker_init_request(
            WorkerRequest("WorkerInitRequest", init, {"protos": protos, "host": "127.0.0.1"}))
        if response.result.status != protos.StatusResult.Success:
            raise RuntimeError(f"the Functions runtime did not start: {response.result.exception.message}")
        self.capabilities = dict(response.capabilities)
        metadata = protos.StreamingMessage(functions_metadata_request=protos.FunctionsMetadataRequest(
            function_app_directory=str(app_directory)))
        await runtime.functions_metadata_request(WorkerRequest("WorkerMetadataRequest", metadata))
        self._started = True

    def function_metadata(self, function_id: str, name: str, directory: Path, script_file: Path,
                          entry_point: str, bindings: list[Mapping[str, Any]]) -> Any:
        """The ``RpcFunctionMetadata`` the host builds from a function folder's ``function.json``."""
        protos = self.protos
        infos = {}
        for binding in bindings:
            infos[str(binding.get("name"))] = protos.BindingInfo(
                type=str(binding.get("type", "")),
                direction=_DIRECTIONS.get(str(binding.get("direction", "in")).lower(), 0),
                data_type=_DATA_TYPES.get(str(binding.get("dataType", "")).lower(), 0))
        return protos.RpcFunctionMetadata(
            name=name, function_id=function_id, directory=str(directory), script_file=str(script_file),
            entry_point=entry_point, bindings=infos, language="python",
            raw_bindings=[json.dumps(binding) for binding in bindings])

    async def load(self, metadata: Any) -> str | None:
        """``function_load_request``; the runtime's error message when it cannot load the function."""
        protos = self.protos
        message = protos.StreamingMessage(function_load_request=protos.FunctionLoadRequest(
            function_id=metadata.function_id, metadata=metadata))
        response = await runtime.function_load_request(WorkerRequest("FunctionLoadRequest", message))
        if response.result.status == protos.StatusResult.Success:
            return None
        return response.result.exception.message or "the runtime could not load the function"

    def invocation(self, function_id: str, trigger_name: str, incoming_traceparent: str | None,
                   tracestate: str | None) -> tuple[Any, Any]:
        """A new ``invocation_request`` message and its trigger's empty ``RpcHttp`` (to fill in place).

        No ``retry_context``: the host sets one only for functions with a retry policy, which HTTP
        triggers cannot have. No trigger metadata: the runtime announces ``RpcHttpTriggerMetadataRemoved``.
        """
        message = self.protos.StreamingMessage()
        request = message.invocation_request
        request.invocation_id = str(uuid.uuid4())
        request.function_id = function_id
        request.trace_context.trace_parent = traceparent(incoming_traceparent)
        if tracestate:
            request.trace_context.trace_state = tracestate
        binding = request.input_data.add()
        binding.name = trigger_name
        return message, binding.data.http

    async def invoke(self, message: Any) -> Any:
        """``invocation_request``: the runtime's ``InvocationResponse``."""
        return await runtime.invocation_request(WorkerRequest("FunctionInvocationRequest", message))

    def stop(self) -> None:
        runtime.stop_threadpool_executor()


_worker: Worker | None = None


def get_worker() -> Worker:
    """The one runtime of this process."""
    global _worker
    if _worker is None:
        _worker = Worker(load_protos())
    return _worker


def new_function_id() -> str:
    """The host gives each loaded function a fresh GUID."""
    return str(uuid.uuid4())


