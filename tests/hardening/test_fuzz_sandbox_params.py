"""Fuzz the sandbox's query-parameter and path handling over real HTTP.

``per_page``, ``cursor``, filters and path ids take arbitrary text (percent-encoded on the wire). The emulator
must answer 200, 400 or 404 with a JSON body — never a 500 (an emulator bug that would make a client test pass
for the wrong reason) and never a hang (every request carries a short timeout).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import quote

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vultr_toolkit.sandbox import Sandbox

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

LIST_ROUTES = ["/instances", "/bare-metals", "/kubernetes/clusters", "/load-balancers", "/blocks", "/databases",
               "/databases/plans", "/snapshots", "/object-storage", "/regions", "/plans", "/plans-metal",
               "/billing/history", "/billing/invoices", "/billing/pending-charges", "/inference"]
ID_ROUTES = ["/instances/{}", "/bare-metals/{}", "/kubernetes/clusters/{}", "/kubernetes/clusters/{}/node-pools",
             "/load-balancers/{}", "/blocks/{}", "/databases/{}", "/databases/{}/usage", "/databases/{}/backups",
             "/snapshots/{}", "/object-storage/{}", "/regions/{}/availability", "/billing/invoices/{}",
             "/billing/invoices/{}/items", "/inference/{}", "/inference/{}/usage"]
PARAMS = ["per_page", "cursor", "tag", "label", "main_ip", "region", "description", "type", "engine"]

text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)
cursorish = st.one_of(
    text,
    st.tuples(st.sampled_from(["next", "prev", "nxt", ""]), st.integers(-5, 10**30)).map(
        lambda t: base64.urlsafe_b64encode(f"{t[0]}__{t[1]}".encode()).decode().rstrip("=")),
    st.binary(max_size=12).map(lambda b: base64.urlsafe_b64encode(b).decode()),
)
values = st.one_of(text, cursorish, st.integers(-(10**6), 10**30).map(str),
                   st.sampled_from(["", "0", "-1", "1e3", "9" * 5000, "١٢", "1_0", " 5", "%00", "%", "null"]))


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, rate_limit=None) as s:
        # Real-time pacing would make a body without max_tokens (the 512-token default) take ~15 s, past the
        # chat fuzzer's 10-s timeout: a slow test, not an emulator hang (no faults are configured here).
        s.inference.configure(time_scale=0.02)
        yield s


@pytest.fixture(scope="module")
def http(sb: Sandbox) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sb.api_url, headers={"Authorization": f"Bearer {sb.api_key}"},
                       timeout=httpx2.Timeout(10.0)) as c:
        yield c


def _check(r: httpx2.Response) -> None:
    assert r.status_code in (200, 400, 404), (r.status_code, r.request.url, r.text[:200])
    if len(str(r.request.url.raw_path)) > 8000:
        # aiohttp's HTTP parser rejects a request line over 8190 bytes before any route runs (plain-text 400,
        # like nginx's 414): a transport limit, not the emulator's parameter handling.
        assert r.status_code == 400
        return
    body = r.json()
    assert isinstance(body, dict)
    if r.status_code != 200:
        assert body.get("status") == r.status_code and isinstance(body.get("error"), str)


@FUZZ
@given(route=st.sampled_from(LIST_ROUTES), params=st.dictionaries(st.sampled_from(PARAMS), values, max_size=4),
       repeat=st.booleans())
@example(route="/instances", params={"per_page": "9" * 5000}, repeat=False)
@example(route="/instances", params={"cursor": base64.urlsafe_b64encode(b"next__" + b"9" * 5000).decode()},
         repeat=False)
@example(route="/instances", params={"cursor": "%"}, repeat=False)
def test_list_routes_answer_200_400_or_404_json(http: httpx2.Client, route: str, params: dict[str, str],
                                                repeat: bool) -> None:
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())
    if repeat and params:  # the same parameter twice: first one wins, never a 500
        query += "&" + query
    r = http.get(f"{route}?{query}")
    _check(r)
    if r.status_code == 200 and "per_page" not in params and "cursor" not in params and route == "/instances":
        assert isinstance(r.json()["instances"], list)


@FUZZ
@given(route=st.sampled_from(ID_ROUTES), ident=text.filter(lambda s: s not in ("", ".", "..")),
       params=st.dictionaries(st.sampled_from(["per_page", "cursor"]), values, max_size=2))
def test_id_routes_answer_200_400_or_404_json(http: httpx2.Client, route: str, ident: str,
                                              params: dict[str, str]) -> None:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    r = http.get(route.format(quote(ident, safe="")) + (f"?{query}" if query else ""))
    _check(r)


@FUZZ
@given(body=st.one_of(st.binary(max_size=40), text.map(str.encode),
                      st.sampled_from([b'{"period": "day"}', b'{"period": 1}', b"[]", b"null", b'{"period": null}'])))
def test_alerts_post_body_answers_200_400_or_404_json(sb: Sandbox, http: httpx2.Client, body: bytes) -> None:
    db = sb.fleet["databases"][0]["id"]
    r = http.post(f"/databases/{db}/alerts", content=body, headers={"Content-Type": "application/json"})
    _check(r)


def test_no_fuzz_request_hit_a_500(sb: Sandbox) -> None:
    """Belt and braces: the server's own log agrees that nothing above ended in a 500 or a reset."""
    log = sb.requests_log()
    assert len(log) > 0
    assert not (log["status"].fillna(599) >= 500).any()


chat_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 2**70), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=8),
              st.sampled_from(["qwen3.8-27b", "glm-5.3-flash", "user", "system"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
        st.sampled_from(["role", "content", "model", "max_tokens", "stream", "messages"]), inner, max_size=3)),
    max_leaves=6)
chat_bodies = st.fixed_dictionaries({}, optional={
    "model": st.one_of(st.sampled_from(["qwen3.8-27b", "deepseek-v4.1-flash", "nope"]), chat_values),
    "messages": st.one_of(st.just([{"role": "user", "content": "hi"}]), chat_values),
    "max_tokens": st.one_of(st.integers(-2, 8), st.sampled_from([10**9, 2**63, 131073, True]), chat_values),
    "max_completion_tokens": chat_values,
    "stream": st.one_of(st.booleans(), chat_values),
    "stream_options": chat_values,
})


@FUZZ
@given(body=chat_bodies)
@example(body={"model": "qwen3.8-27b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9})
@example(body={"model": "qwen3.8-27b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2**63,
               "stream": True})
@example(body={"model": "qwen3.8-27b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1,
               "stream": True, "stream_options": True})
@example(body={"model": "qwen3.8-27b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1,
               "stream": True, "stream_options": []})
def test_chat_bodies_answer_json_errors_or_a_bounded_completion(sb: Sandbox, body: dict[str, object]) -> None:
    """Any JSON body: 200 (a completion or a stream that ends) or a 4xx JSON error — never a 500, never a hang.

    A huge ``max_tokens`` must be refused like the real API does past the model's context (the emulator used to
    try to plan every one of 10**9 tokens).
    """
    with httpx2.Client(base_url=sb.inference_url, timeout=httpx2.Timeout(10.0),
                       headers={"Authorization": f"Bearer {sb.inference_api_key}"}) as c:
        r = c.post("/chat/completions", json=body)
    assert r.status_code in (200, 400, 404, 422), (r.status_code, r.text[:200])
    if r.status_code != 200:
        assert isinstance(r.json(), dict)
