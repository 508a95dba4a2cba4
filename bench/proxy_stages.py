"""``python -m bench.proxy_stages [--requests 3000]``: where a proxied small read's time goes inside the worker.

``bench.hop_floor`` gives the gateway's share above the Functions floor as one figure; this breaks the
gateway's side down. It serves ``fhir_proxy_fn`` on the local host (Azurite, the Key Vault emulator, a
stand-in provider, as ``bench.hop_floor`` does) with the stages of the request path timed inside the worker
(``bench.stage_timer``, installed by a ``sitecustomize`` module before the function loads), sends
``--requests`` small reads after a warm-up, and prints each stage's median wall time (awaits included, so
"transport send" holds the provider's answer), nested as the stages call each other, and what each stage
spends outside the stages it contains.

The figures are inside one warm worker on a shared machine: a stage costs several times its in-process
microbenchmark here, because every request passes through the client, the host and the provider in turn and
the caches are cold for each. Compare stages with each other in one run, not with another run's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from bench.baseline import REPO, BaselineHost
from bench.proxy_bench import HEADERS, _timed_get, seeded_stack
from bench.stage_timer import STAGES

SITECUSTOMIZE = '''import os
if os.environ.get("BENCH_STAGES_OUT"):
    from bench.stage_timer import install
    install(os.environ["BENCH_STAGES_OUT"])
'''
WARM_UP = 300


async def _send(url: str, headers: dict[str, str], count: int) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            await _timed_get(session, url, headers)


def report(samples: dict[str, list[float]], missing: list[str], measured: int) -> None:
    medians = {label: statistics.median(values[-measured:]) * 1e6 for label, values in samples.items() if values}
    print(f"{'stage':<34} {'median':>10} {'own':>10}")
    labels = [label for label, _ in STAGES]
    for index, label in enumerate(labels):
        if label not in medians:
            continue
        depth = len(label) - len(label.lstrip())
        children = []
        for later in labels[index + 1:]:
            later_depth = len(later) - len(later.lstrip())
            if later_depth <= depth:
                break
            if later_depth == depth + 2 and later in medians:
                children.append(medians[later])
        own = medians[label] - sum(children)
        print(f"{label:<34} {medians[label]:>8.1f}us {own:>8.1f}us")
    for label in missing:
        print(f"{label.strip():<34} (not in this tree)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with seeded_stack("stages") as (_provider, env, tokens), tempfile.TemporaryDirectory() as temp:
        (Path(temp) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        out = Path(temp) / "stages.json"
        host = BaselineHost(REPO, {**env, "PYTHONPATH": f"{temp}:{REPO}", "BENCH_STAGES_OUT": str(out)}).start()
        try:
            headers = {**HEADERS, "Authorization": f"Bearer {tokens['azure'][1]}"}
            asyncio.run(_send(f"{host.base_url}/fhir/Patient/1", headers, WARM_UP + args.requests))
        finally:
            host.close()
        recorded = json.loads(out.read_text())
    print(f"a small read (GET Patient/1) through fhir_proxy_fn on the local host: medians of {args.requests} "
          f"requests after {WARM_UP} to warm up, wall time inside the worker")
    report(recorded["samples"], recorded["missing"], args.requests)


if __name__ == "__main__":
    main()
