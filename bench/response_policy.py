"""``python -m bench.response_policy``: what the proxy's response policy costs per answer (in-process).

The provider's answer passes ``downstream_response_headers`` (no-store, nosniff, sandbox), then the link
rewriting step (``LinkRewriting``: link policy on ``Location``, and ``LinkRewriter.rewrite_body``: provider
base → gateway base, in any case; Bundle links elsewhere dropped). Bodies: a 33 KB searchset of 100 entries
as providers write it, the same with one link in upper case (case-insensitive pattern), with a ``next`` link
elsewhere (parsed and re-serialised), and a small read. Prints the median of interleaved rounds, in
milliseconds.
"""

from __future__ import annotations

import json
import statistics
import timeit

from gateway.http import Request, Response
from gateway.proxy.exchange import Exchange
from gateway.proxy.headers import downstream_response_headers
from gateway.proxy.rewrite import LinkRewriter, LinkRewriting
from gateway.stores.models import Route

PROVIDER = "https://ehr.hospital.example/fhir/stu3"
GATEWAY = "https://gw.example/fhir"
ROUNDS, NUMBER = 9, 200


def searchset(next_url: str = f"{PROVIDER}?_getpages=x") -> bytes:
    entries = [{"fullUrl": f"{PROVIDER}/Observation/{i}",
                "resource": {"resourceType": "Observation", "id": str(i), "status": "final",
                             "code": {"coding": [{"system": "http://loinc.org", "code": "1234-5",
                                                  "display": "Something long enough"}]},
                             "subject": {"reference": f"{PROVIDER}/Patient/1"}}} for i in range(100)]
    return json.dumps({"resourceType": "Bundle", "type": "searchset",
                       "link": [{"relation": "self", "url": f"{PROVIDER}/Observation?patient=1"},
                                {"relation": "next", "url": next_url}], "entry": entries}).encode()


def main() -> None:
    rewriter = LinkRewriter(PROVIDER, GATEWAY)
    bundle = searchset()
    cases = {
        "100-entry searchset": bundle,
        "same, one link in upper case": bundle.replace(b"https://ehr.hospital", b"HTTPS://EHR.hospital", 1),
        "same, next link elsewhere": searchset("https://elsewhere.example/page2"),
        "small read": json.dumps({"resourceType": "Patient", "id": "1",
                                  "meta": {"source": f"{PROVIDER}/Patient/1"}}).encode(),
    }
    headers = [("Content-Type", "application/fhir+json"), ("ETag", 'W/"1"'), ("Cache-Control", "public, max-age=60"),
               ("Location", f"{PROVIDER}/Patient/1/_history/1"), ("Content-Location", "https://elsewhere.example/x")]
    step = LinkRewriting(GATEWAY)
    route = Route(tenant_id="t", fhir_base_url=PROVIDER, fhir_version="STU3")
    exchange = Exchange(Request("GET", f"{GATEWAY}/Patient"), None, route, None,  # type: ignore[arg-type]
                        provider_url=f"{PROVIDER}/Patient")  # the caller and target are not read by the step

    def answer_headers() -> Response:
        return step.incoming(exchange, Response(200, b"", downstream_response_headers(headers, "rid", has_body=False)))

    timings: dict[str, list[float]] = {name: [] for name in [*cases, "response headers"]}
    for _ in range(ROUNDS):
        for name, body in cases.items():
            timings[name].append(timeit.timeit(lambda b=body: rewriter.rewrite_body(b), number=NUMBER) / NUMBER)
        timings["response headers"].append(timeit.timeit(answer_headers, number=NUMBER) / NUMBER)
    sizes = {name: len(body) for name, body in cases.items()}
    print(f"{'case':<32} {'bytes':>7}  median ms")
    for name, values in timings.items():
        print(f"{name:<32} {sizes.get(name, 0):>7}  {statistics.median(values) * 1000:9.3f}")


if __name__ == "__main__":
    main()
