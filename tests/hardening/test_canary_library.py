"""Canary scan of the library paths, in process, with DEBUG logging on an unfiltered root handler.

Runs the whole tour — settings, clients, inventory snapshot (saved to SQLite and PostgreSQL, exported to Parquet),
health monitor with every probe (PostgreSQL, Valkey, inference, API) recording to both stores, the utility trio,
a benchmark (saved), the cache on a password-protected Valkey, a report in every format, the REST status service
on every route it lists — then the failing-auth scenarios (wrong API key, wrong inference key, wrong Valkey
password). Every log line, repr, HTML repr, exception, traceback, response, file and stored row is searched.
"""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pandas as pd
import pytest

import vultr_toolkit as vt

from . import canary
from .conftest import CanaryStack

pytestmark = [pytest.mark.postgres, pytest.mark.valkey]
MODEL = "qwen3.8-27b"


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """An UNFILTERED root handler at DEBUG: sees every record of every library (httpx2/httpcore2, SQLAlchemy,
    redis, aiohttp, asyncio), exactly as a user who turns on logging.basicConfig(level=DEBUG) would."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    noisy = {name: logging.getLogger(name).level for name in ("sqlalchemy.engine", "sqlalchemy.pool")}
    for name in noisy:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)


def _scan_obj(f: canary.Findings, where: str, obj: Any) -> None:
    f.text(f"repr {where}", repr(obj))
    f.text(f"str {where}", str(obj))
    html = getattr(obj, "_repr_html_", None)
    if callable(html):
        f.text(f"_repr_html_ {where}", html())
    if isinstance(obj, pd.DataFrame):
        f.text(f"frame {where}", obj.astype(str).to_csv())
        f.text(f"frame attrs {where}", repr(obj.attrs))


def _scan_exc(f: canary.Findings, where: str, exc: BaseException) -> None:
    f.text(f"exception {where}", f"{exc!s} {exc!r}")
    f.text(f"traceback {where}", "".join(traceback.format_exception(exc)))
    # Cause/context chains and attributes, as a debugger or a verbose traceback would show them.
    f.text(f"exception vars {where}", repr(vars(exc)) if hasattr(exc, "__dict__") else "")
    # IPython's %xmode Verbose: every frame's local variables, the classic notebook leak (research §6).
    from IPython.core.ultratb import VerboseTB

    verbose = VerboseTB(theme_name="nocolor").text(type(exc), exc, exc.__traceback__)
    assert "Traceback" in verbose or len(verbose) > 200
    f.text(f"verbose traceback {where}", verbose)


def test_library_tour_leaks_no_canary(canary_stack: CanaryStack, tmp_path: Path, debug_log: io.StringIO,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in canary_stack.env(tmp_path).items():
        monkeypatch.setenv(k, v)
    f = canary.Findings()
    sqlite_store = vt.store.HistoryStore(f"sqlite:///{tmp_path / 'history.sqlite'}")
    pg_store = vt.store.HistoryStore(canary_stack.pg_url)

    s = vt.Settings(_env_file=None)
    assert s.secret("api_key") == canary.API_KEY  # the canaries really are configured
    _scan_obj(f, "Settings", s)
    f.text("Settings.model_dump", s.model_dump())
    f.text("Settings.model_dump_json", s.model_dump_json())
    _scan_obj(f, "HistoryStore(pg)", pg_store)

    with vt.Client(s) as client:
        _scan_obj(f, "Client", client)
        snap = client.inventory.snapshot(progress=False)
        assert len(snap.errors) == 0, snap.errors  # the canary key authenticated for real
        _scan_obj(f, "InventorySnapshot", snap)
        for name, frame in snap.frames.items():
            _scan_obj(f, f"snapshot frame {name}", frame)
        _scan_obj(f, "summary", snap.summary())
        snap.save(sqlite_store)
        snap.save(pg_store)
        snap.to_parquet(tmp_path / "inventory-parquet")

        with vt.HealthMonitor(s, store=pg_store, monitor_id="canary") as mon:
            _scan_obj(f, "HealthMonitor", mon)
            samples = mon.run(interval_s=0.2, count=2, progress=False)
        assert set(samples["service"].astype(str)) >= {"postgres", "valkey", "inference"}
        assert (samples["status"].astype(str) == "up").any()
        _scan_obj(f, "health samples", samples)
        with vt.HealthMonitor(s, store=sqlite_store, monitor_id="canary") as mon:
            mon.run(interval_s=0.2, count=1, progress=False)

        for name in ("check_health", "get_stats", "verify_services"):
            _scan_obj(f, name, getattr(vt, name)(s))

        res = vt.bench.run(client, model=MODEL, concurrency=[2], requests=4, max_tokens=8, progress=False)
        assert (res.requests["status"] == "ok").all()
        _scan_obj(f, "BenchmarkResult", res)
        _scan_obj(f, "bench requests", res.requests)
        _scan_obj(f, "bench summary", res.summary())
        res.save(sqlite_store)
        res.save(pg_store)

    cache = vt.Cache(canary_stack.valkey_url)
    _scan_obj(f, "Cache", cache)
    cache.set("k", {"v": 1})
    assert cache.get("k") == {"v": 1}
    close = getattr(cache, "close", None)
    if callable(close):
        close()

    report = vt.report.build(inventory=snap, health=samples, benchmark=res, settings=s)
    _scan_obj(f, "Report", report)
    report.to_html(tmp_path / "report.html")
    report.to_markdown(tmp_path / "report-md" / "report.md")
    report.to_parquet(tmp_path / "report-parquet")

    _service_routes(f, s)
    _failing_auth(f, canary_stack, tmp_path)

    f.text("DEBUG log", debug_log.getvalue())
    assert len(debug_log.getvalue()) > 1000  # DEBUG logging really was on
    sqlite_store.close()
    pg_store.close()
    assert f.files(tmp_path) >= 5
    assert f.sqlite_rows(tmp_path / "history.sqlite") > 0
    assert f.postgres_rows(canary_stack.pg_url) > 0
    f.assert_clean()


def _service_routes(f: canary.Findings, s: vt.Settings) -> None:
    """Every route the service lists (so new routes are scanned automatically), with and without the token."""
    from vultr_toolkit.service import StatusService

    with StatusService(s, port=0, token=canary.SERVICE_TOKEN) as svc:
        auth = {"Authorization": f"Bearer {canary.SERVICE_TOKEN}"}
        with httpx2.Client(base_url=svc.url, timeout=30.0) as http:
            index = http.get("/api/vultr", headers=auth)
            assert index.status_code == 200
            routes = _routes(index.json())
            assert len(routes) >= 8, index.text
            db_id = http.get("/api/vultr/management/databases", headers=auth).json()["databases"][0]["id"]
            for method, path in routes:
                url = path.replace("{id}", str(db_id))
                for headers in (auth, {}, {"Authorization": f"Bearer {canary.WRONG_KEY}"}):
                    r = http.request(method, url, headers=headers)
                    f.text(f"service {method} {path} [{r.status_code}]", r.text)
                    f.text(f"service headers {method} {path}", repr(r.headers))
                    if headers is auth:
                        assert r.status_code != 401, (method, path)
            r = http.get("/api/vultr/management/databases/no-such-db", headers=auth)
            assert r.status_code == 404
            f.text("service 404", r.text)


def _routes(index: Any) -> list[tuple[str, str]]:
    """Pull (method, path) pairs out of the service's route index, whatever its exact shape."""
    found: list[tuple[str, str]] = []

    def walk(x: Any) -> None:
        if isinstance(x, str):
            parts = x.split()
            if len(parts) == 2 and parts[0] in ("GET", "POST") and parts[1].startswith("/api/"):
                found.append((parts[0], parts[1].split("?")[0]))
            elif x.startswith("/api/"):
                found.append(("GET", x.split("?")[0]))
        elif isinstance(x, dict):
            if isinstance(x.get("path"), str):
                found.append((str(x.get("method", "GET")).upper(), x["path"].split("?")[0]))
                return
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(index)
    return sorted(set(found))


def _failing_auth(f: canary.Findings, stack: CanaryStack, tmp_path: Path) -> None:
    """Wrong keys and passwords: the errors, probes and stored samples must not echo what was sent."""
    bad = vt.Settings(_env_file=None, api_key=canary.WRONG_KEY, inference_api_key=canary.WRONG_KEY,
                      valkey_url=stack.valkey_wrong_url)
    with vt.Client(bad) as client:
        with pytest.raises(vt.VultrToolkitError) as auth:
            client.inventory.instances()
        _scan_exc(f, "wrong API key", auth.value)
        with pytest.raises(vt.AuthenticationError) as whole:  # no account resource: raised, never a $0 snapshot
            client.inventory.snapshot(progress=False)
        _scan_exc(f, "snapshot with a wrong key", whole.value)
        _scan_obj(f, "snapshot notes (wrong key)", " ".join(getattr(whole.value, "__notes__", [])))
        with pytest.raises(vt.VultrToolkitError) as inf:
            client.inference.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        _scan_exc(f, "wrong inference key", inf.value)
    store = vt.store.HistoryStore(f"sqlite:///{tmp_path / 'history.sqlite'}")
    try:
        with vt.HealthMonitor(bad, store=store, monitor_id="canary-bad") as mon:
            samples = mon.run(interval_s=0.2, count=1, progress=False)
    finally:
        store.close()
    # /v1/models answers without a key in the emulator, so the inference probe may stay up; these two cannot.
    down = samples[samples["service"].astype(str).isin(["valkey", "api"])]
    assert len(down) == 2
    assert (down["status"].astype(str) != "up").all(), down.to_string()
    _scan_obj(f, "samples (wrong credentials)", samples)
    with pytest.raises(Exception) as cache_err:
        c = vt.Cache(stack.valkey_wrong_url)
        c.set("k", 1)
    _scan_exc(f, "cache wrong password", cache_err.value)
