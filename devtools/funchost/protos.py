"""The Functions host's gRPC messages (``FunctionRpc.proto``), as the runtime expects to be handed them.

In Azure the proxy worker passes its own generated ``protos`` package to the runtime at
``worker_init_request`` (``properties={"protos": protos, ...}``, ``workers/proxy_worker/dispatcher.py``
in Azure/azure-functions-python-worker). The proxy worker is not on PyPI; the runtime wheel
``azure-functions-runtime-v1`` ships the same generated modules as its test copy,
``tests/protos/FunctionRpc_pb2.py`` (with ``identity/`` and ``shared/``). They are loaded here by
file path under a private package name, because this project has its own ``tests`` package, and
without running that copy's ``__init__``, which also imports the gRPC service stubs (and so
``grpc``): the local host exchanges messages in-process and needs no channel.

The module built here exposes the names the proxy worker's ``protos/__init__.py`` exports.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path

RUNTIME_DISTRIBUTION = "azure-functions-runtime-v1"
PACKAGE = "_funchost_protos"
_MESSAGES = (
    "StreamingMessage", "StartStream", "WorkerInitRequest", "WorkerInitResponse", "RpcFunctionMetadata",
    "FunctionLoadRequest", "FunctionLoadResponse", "FunctionEnvironmentReloadRequest",
    "FunctionEnvironmentReloadResponse", "InvocationRequest", "InvocationResponse", "WorkerHeartbeat",
    "WorkerStatusRequest", "WorkerStatusResponse", "BindingInfo", "StatusResult", "RpcException",
    "ParameterBinding", "TypedData", "RpcHttp", "RpcHttpCookie", "RpcLog", "RpcSharedMemory", "RpcDataType",
    "CloseSharedMemoryResourcesRequest", "CloseSharedMemoryResourcesResponse", "FunctionsMetadataRequest",
    "FunctionMetadataResponse", "WorkerMetadata", "RpcRetryOptions", "RpcTraceContext", "RetryContext",
)
_NULLABLES = ("NullableString", "NullableBool", "NullableDouble", "NullableTimestamp")
_IDENTITY = ("RpcClaimsIdentity", "RpcClaim")


class ProtosNotFound(RuntimeError):
    """The runtime wheel is not installed, or no longer ships its copy of the generated protos."""


def protos_directory() -> Path:
    """``tests/protos`` as installed by the runtime wheel (found through the wheel's file list)."""
    try:
        distribution = importlib.metadata.distribution(RUNTIME_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ProtosNotFound(f"{RUNTIME_DISTRIBUTION} is not installed (pip install -r requirements.txt)") from None
    for file in distribution.files or ():
        if file.as_posix() == "tests/protos/FunctionRpc_pb2.py":
            return Path(str(distribution.locate_file(file))).parent
    raise ProtosNotFound(f"{RUNTIME_DISTRIBUTION} {distribution.version} ships no tests/protos/FunctionRpc_pb2.py")


def load_protos() -> types.ModuleType:
    """The protos module (loaded once per process: protobuf's descriptor pool is process-wide)."""
    loaded = sys.modules.get(PACKAGE)
    if loaded is not None and hasattr(loaded, "StreamingMessage"):
        return loaded
    directory = protos_directory()
    spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
    spec.submodule_search_locations = [str(directory)]
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(directory)]  # the generated modules import .identity and .shared relatively
    sys.modules[PACKAGE] = package
    try:
        rpc = importlib.import_module(f"{PACKAGE}.FunctionRpc_pb2")
        nullable = importlib.import_module(f"{PACKAGE}.shared.NullableTypes_pb2")
        identity = importlib.import_module(f"{PACKAGE}.identity.ClaimsIdentityRpc_pb2")
    except BaseException:
        sys.modules.pop(PACKAGE, None)
        raise
    for names, module in ((_MESSAGES, rpc), (_NULLABLES, nullable), (_IDENTITY, identity)):
        for name in names:
            setattr(package, name, getattr(module, name))
    return package
