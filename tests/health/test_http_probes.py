"""Inference, Vultr API and managed-database probes against the sandbox over loopback HTTP."""

from __future__ import annotations

from pathlib import Path

import vultr_toolkit as vt
import vultr_toolkit.health as health
from vultr_toolkit.health.probes import APIProbe, InferenceProbe, ManagedDatabaseProbe
from vultr_toolkit.sandbox import Sandbox

CANARY = "sk-CANARY-http-0006"


def test_monitor_of_the_sandbox_settings_probes_inference_and_api(sandbox: Sandbox) -> None:
    with vt.health.HealthMonitor(sandbox.settings()) as mon:
        df = mon.run(count=3, interval_s=0.05, progress=False)
    assert len(df) == 9
    assert df["service"].astype(str).tolist()[:3] == ["inference", "api", "overall"]
    assert set(df["status"].astype(str)) == {"up"}
    inf = df[df["service"] == "inference"].iloc[0]
    assert inf["latency_ms"] > 0 and '"model_count":' in inf["details"]
    assert inf["target"] == sandbox.inference_url
    assert df[df["service"] == "api"]["target"].iloc[0] == sandbox.api_url + "/account"


def test_deep_inference_probe_records_ttft(sandbox: Sandbox) -> None:
    probe = InferenceProbe.from_settings(sandbox.settings(), deep=True, deep_timeout_s=10)
    s = probe.check()
    probe.close()
    assert s.status == "up", s.message
    assert s.details["model_count"] > 0 and s.details["deep_model"]
    assert s.details["ttft_s"] is not None and s.details["ttft_s"] > 0


def test_api_probe_failures_are_typed_samples_without_retries(sandbox: Sandbox) -> None:
    vt._redact.register_secret(CANARY)
    bad_key = health.probe_api(sandbox.settings(api_key=CANARY))
    assert bad_key.status == "down" and bad_key.error_kind == "http_401"
    assert CANARY not in repr(bad_key)
    sandbox.set_faults("/v2/account", p503=1.0)
    sandbox.clear_requests_log()
    s = health.probe_api(sandbox.settings())
    assert s.status == "down" and s.error_kind == "http_5xx"
    assert len(sandbox.requests_log()) == 1  # one attempt: a probe reports what it sees, it does not retry


def test_unreachable_endpoints_are_connection_failures() -> None:
    s = health.probe_inference(vt.Settings(inference_url="http://127.0.0.1:1/v1"), timeout_s=2)
    assert s.status == "down" and s.error_kind == "connection"
    probe = APIProbe("http://127.0.0.1:1/v2", "k" * 20, timeout_s=2)
    assert probe.check().error_kind == "connection"


def test_managed_database_usage_samples(sandbox: Sandbox) -> None:
    db_id = sandbox.fleet["databases"][0]["id"]
    probe = ManagedDatabaseProbe.from_settings(sandbox.settings(), db_id)
    s = probe.check()
    probe.close()
    assert s.service == "database" and s.status in ("up", "degraded"), s.message
    for k in ("cpu_pct", "memory_pct", "disk_pct"):
        assert isinstance(s.details[k], float) and 0 <= s.details[k] <= 100
    missing = health.probe_managed_database("no-such-db", sandbox.settings())
    assert missing.status == "down" and missing.error_kind == "http_404"


def test_test_services_runs_a_tiny_inference_call(sandbox: Sandbox) -> None:
    df = health.verify_services(sandbox.settings())
    assert df[["service", "step"]].astype(str).values.tolist() == [["inference", "models"], ["inference", "chat"]]
    assert df["ok"].all(), df.to_string()


def test_checks_of_the_sandbox_land_in_the_store(sandbox: Sandbox, tmp_path: Path) -> None:
    store = vt.store.HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}")
    with health.HealthMonitor(sandbox.settings(), store=store) as mon:
        checked = mon.check()  # a one-off check is written before it returns
        stored = store.health_history()
    assert sorted(stored["sample_id"]) == sorted(checked["sample_id"])
    assert set(stored["service"].astype(str)) == {"inference", "api", "overall"}
    assert CANARY not in stored.to_string() and sandbox.api_key not in stored.to_string()
