"""Demo provider: a synthetic hospital FHIR server for ``make run``, the proxy's tests and benchmarks.

``python -m devtools.demo_provider --port 8081`` serves DSTU2, STU3 and R4 at
once under ``/dstu2``, ``/stu3`` and ``/r4``. In-process::

    async with running_provider() as provider:      # free port on 127.0.0.1
        provider.fhir_base("STU3")                   # http://127.0.0.1:<port>/stu3

or ``create_app(base_url)`` for an aiohttp application of your own.
"""

from devtools.demo_provider.app import create_app
from devtools.demo_provider.data import DEMO_PATIENT_ID
from devtools.demo_provider.server import RunningProvider, running_provider

__all__ = ["DEMO_PATIENT_ID", "RunningProvider", "create_app", "running_provider"]
