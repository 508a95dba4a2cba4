"""Whatever a client sends, the token endpoint answers with an OAuth error, never a 500, never echoing input."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.clock import FakeClock
from gateway.http import Headers, Request
from gateway.services import memory_services
from tests.fixtures.common import make_settings
from tests.support.surfaces import respond

ALLOWED = {400, 401, 405, 413, 429}
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=80)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=st.sampled_from(["POST", "GET", "PUT", "DELETE"]),
       body=st.one_of(st.binary(max_size=300),
                      st.lists(st.tuples(st.sampled_from(["grant_type", "client_id", "client_secret", "scope",
                                                          "grant-type", "x"]), st.text(max_size=60)), max_size=6)
                      .map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass"))),
       content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "", "text/plain",
                                     "application/x-www-form-urlencoded; charset=latin1"]),
       authorization=st.one_of(st.none(), header_text, header_text.map(lambda t: "Basic " + t)))
def test_no_input_causes_a_server_error(method, body, content_type, authorization):
    headers = Headers({"Content-Type": content_type})
    if authorization is not None:
        headers.set("Authorization", authorization)
    request = Request(method=method, url="http://localhost:7071/oauth2/token", headers=headers,
                      route_params={"endpoint": "token"}, body=body)
    services = memory_services(make_settings(), FakeClock())
    response = asyncio.run(respond(request, services))
    assert response.status in ALLOWED
    payload = json.loads(response.body)
    assert set(payload) == {"error", "error_description"}
    if len(body) > 8:
        assert body.decode("utf-8", "replace") not in payload["error_description"]
