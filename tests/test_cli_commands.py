"""Every ``vultr-toolkit`` command as a real subprocess: --sandbox runs, the demo, formats that parse, exit codes
(0 ok, 1 runtime failure, 2 usage/config) and no canary secret in any output or report."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pandas as pd
import pytest

import vultr_toolkit as vt
from tests.plugins.servers import PostgresServer, ValkeyServer, free_port
from vultr_toolkit import cli, service
from vultr_toolkit.inventory import InventorySnapshot

CANARY_PG_PASSWORD = "sk-CANARY-cli-pgpw-a81c"
CANARY_VK_PASSWORD = "sk-CANARY-cli-vkpw-19d4"
CANARY_KEY = "sk-CANARY-cli-wrong-key-5e"
COMMANDS = ("demo", "inventory", "health", "bench", "report", "serve", "sandbox")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any VULTR_* variable (plus ``extra``): as on a machine with no configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VULTR_")}
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vultr_toolkit.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env if env is not None else clean_env(), timeout=timeout)


def no_canary(*texts: str) -> None:
    for text in texts:
        assert "CANARY" not in text, text[:2000]


@pytest.fixture(scope="module")
def valkey_with_password() -> Iterator[ValkeyServer]:
    with ValkeyServer(password=CANARY_VK_PASSWORD) as vk:
        yield vk


# --- demo --------------------------------------------------------------------------------------------------------
def test_demo_probes_configured_servers_and_writes_a_self_contained_report(
        tmp_path: Path, pg_server: PostgresServer, valkey_with_password: ValkeyServer) -> None:
    # trust auth on the test cluster: the canary password travels in the URL but is never needed.
    pg = f"postgresql://postgres:{CANARY_PG_PASSWORD}@127.0.0.1:{pg_server.port}/postgres"
    proc = run(["demo", "--seed", "2"], tmp_path, clean_env(VULTR_POSTGRES_URL=pg,
                                                             VULTR_VALKEY_URL=valkey_with_password.url))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = tmp_path / "vultr-toolkit-demo.html"
    assert f"Report: {report}" in proc.stdout
    out = proc.stdout
    assert "Also probing PostgreSQL and Valkey" in out
    for service_name in ("postgres", "valkey", "inference", "api", "overall"):
        assert re.search(rf"^  {service_name}\s+uptime\s+100\.0 %", out, re.M), out
    assert re.search(r"^  instances\s+\$[\d,.]+\s+\d+$", out, re.M) and "all resources" in out
    assert re.search(r"^\s+4 user\(s\): TTFT p50", out, re.M)
    # Progress bars were shown (on stderr) for the snapshot, the monitor and the benchmark.
    assert all(word in proc.stderr for word in ("inventory:", "health checks:", "bench:"))
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 6
    assert "postgres" in html and "valkey" in html
    no_canary(html, proc.stdout, proc.stderr)


def test_demo_markdown_output(tmp_path: Path) -> None:
    proc = run(["demo", "--out", "out/demo.md"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (tmp_path / "out" / "demo.md").read_text()
    pngs = sorted((tmp_path / "out" / "demo_files").glob("*.png"))
    assert len(pngs) == 6 and all(f"demo_files/{p.name}" in md for p in pngs)


# --- inventory ---------------------------------------------------------------------------------------------------
def test_inventory_formats_parse(tmp_path: Path) -> None:
    j = run(["inventory", "--sandbox", "--format", "json"], tmp_path)
    assert j.returncode == 0, j.stderr
    rows = json.loads(j.stdout)
    with vt.Sandbox(seed=0) as sb, vt.Client(sb.settings()) as client:
        expected = client.inventory.snapshot(progress=False).resources
    assert len(rows) == len(expected) and {r["id"] for r in rows} == set(expected["id"])
    assert "using a throwaway sandbox" in j.stderr
    c = run(["inventory", "--sandbox", "--format", "csv", "--view", "instances", "--no-progress"], tmp_path)
    df = pd.read_csv(io.StringIO(c.stdout))
    assert c.returncode == 0 and len(df) == 25 and {"id", "plan", "monthly_cost_usd"} <= set(df.columns)
    assert "inventory:" not in c.stderr  # --no-progress
    t = run(["inventory", "--sandbox", "--view", "summary", "--out", "s.txt"], tmp_path)
    text = (tmp_path / "s.txt").read_text()
    assert t.returncode == 0 and t.stdout == "" and text.split()[:4] == ["resource_type", "region", "count",
                                                                       "monthly_cost_usd"]
    p = run(["inventory", "--sandbox", "--format", "parquet", "--out", "snap"], tmp_path)
    assert p.returncode == 0, p.stderr
    snap = InventorySnapshot.read_parquet(tmp_path / "snap")
    assert len(snap["instances"]) == 25 and snap.ok


def test_inventory_without_a_key_explains_sandbox(tmp_path: Path) -> None:
    proc = run(["inventory"], tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "VULTR_API_KEY is not set" in proc.stderr and "--sandbox" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_inventory_with_env_config_and_failures(tmp_path: Path) -> None:
    with vt.Sandbox(seed=0) as sb:
        ok = run(["inventory", "--view", "databases", "--format", "json"], tmp_path,
                 clean_env(VULTR_API_URL=sb.api_url, VULTR_API_KEY=sb.api_key))
        assert ok.returncode == 0 and len(json.loads(ok.stdout)) == 7
        bad_env = clean_env(VULTR_API_URL=sb.api_url, VULTR_API_KEY=CANARY_KEY)
        nothing = run(["inventory", "--no-progress"], tmp_path, bad_env)
        sb.set_faults("/v2/instances*", p500=1.0)
        good_env = clean_env(VULTR_API_URL=sb.api_url, VULTR_API_KEY=sb.api_key)
        lax = run(["inventory", "--no-progress", "--format", "json"], tmp_path, good_env)
        strict = run(["inventory", "--no-progress", "--format", "json", "--strict"], tmp_path, good_env)
    # A wrong key: every resource fails, so the empty table is an error (exit 1), not "you run nothing".
    assert nothing.returncode == 1 and "instances: http_401" in nothing.stderr
    assert "none of the 13 account resource(s) could be fetched" in nothing.stderr
    # One resource failing: the rest is printed; exit 0 unless --strict.
    assert lax.returncode == 0 and "warning: instances could not be fetched (http_5xx)" in lax.stderr
    rows = json.loads(lax.stdout)
    assert rows and "instance" not in {r["resource_type"] for r in rows}
    assert strict.returncode == 1 and json.loads(strict.stdout) == rows
    no_canary(nothing.stdout, nothing.stderr, lax.stdout, lax.stderr, strict.stdout, strict.stderr)


@pytest.mark.parametrize("args, words", [
    (["inventory", "--sandbox", "--format", "parquet"], "give --out DIR"),
    (["inventory", "--sandbox", "--view", "nope"], "unknown --view 'nope'"),
    (["inventory", "--format", "xml"], "invalid choice"),
    (["bench", "--sandbox", "--concurrency", "0"], "positive"),
    (["bench", "--sandbox", "--concurrency", "1", "--rate", "2"], "not both"),
    (["health", "--interval", "-1"], "positive"),
    (["report"], "nothing to report"),
    (["health"], "nothing to monitor"),
    (["bench"], "VULTR_INFERENCE_API_KEY is not set"),
    (["nope"], "invalid choice"),
    (["bench", "--sandbox", "--dataset", "missing.jsonl"], "no dataset file"),
    (["bench", "--sandbox", "--extra-body", "{oops"], "--extra-body must be a JSON object"),
    (["bench", "--sandbox", "--extra-body", "[1]"], "extra_body must be a JSON object"),
])
def test_usage_and_config_errors_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    proc = run(args, tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert words in proc.stderr and "Traceback" not in proc.stderr


def test_bench_sandbox_dataset_and_extra_body(tmp_path: Path) -> None:
    proc = run(["bench", "--sandbox", "--concurrency", "1", "--requests", "3", "--max-tokens", "4",
                "--dataset", str(vt.bench.sample_dataset_path()), "--dataset-sample", "3",
                "--extra-body", '{"user": "cli"}', "--format", "json", "--out", "b.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "b.json").read_text())
    assert rows[0]["requests"] == 3 and rows[0]["errors"] == 0


# --- health ------------------------------------------------------------------------------------------------------
def test_health_once_and_watch(tmp_path: Path) -> None:
    once = run(["health", "--sandbox", "--format", "json"], tmp_path)
    assert once.returncode == 0, once.stderr
    rows = json.loads(once.stdout)
    assert {r["service"] for r in rows} == {"inference", "api", "overall"} and all(r["status"] == "up" for r in rows)
    watch = run(["health", "--sandbox", "--watch", "--interval", "0.1", "--count", "3"], tmp_path)
    assert watch.returncode == 0, watch.stderr
    assert len(re.findall(r"overall\s+overall\s+up", watch.stdout)) == 3  # one table per check
    assert "uptime" in watch.stderr and "uptime_pct" in watch.stderr
    store = f"sqlite:///{tmp_path / 'h.sqlite'}"
    lines = run(["health", "--sandbox", "--watch", "--interval", "0.1", "--count", "2", "--format", "json",
                 "--store", store], tmp_path)
    assert lines.returncode == 0, lines.stderr
    checks = [json.loads(line) for line in lines.stdout.splitlines()]
    assert len(checks) == 2 and all(len(c) == 3 for c in checks)
    with vt.store.HistoryStore(store) as st:
        stored = st.health_history()
    assert len(stored) == 6 and set(stored["service"].astype(str)) == {"inference", "api", "overall"}


def test_health_down_target_exits_1(tmp_path: Path) -> None:
    target = f"redis://:{CANARY_VK_PASSWORD}@127.0.0.1:{free_port()}/0"
    proc = run(["health", "--target", target, "--format", "json"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    rows = {r["service"]: r for r in json.loads(proc.stdout)}
    assert rows["valkey"]["status"] == "down" and rows["overall"]["status"] == "down"
    assert rows["valkey"]["target"].startswith("redis://127.0.0.1:")  # the display target drops the password
    no_canary(proc.stdout, proc.stderr)


# --- bench -------------------------------------------------------------------------------------------------------
def test_bench_sandbox_json_summary(tmp_path: Path) -> None:
    proc = run(["bench", "--sandbox", "--concurrency", "1,2", "--requests", "4", "--max-tokens", "8",
                "--format", "json", "--out", "bench.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "bench.json").read_text())
    assert [r["level"] for r in rows] == [1.0, 2.0] and all(r["requests"] == 4 and r["errors"] == 0 for r in rows)
    assert all(r["ttft_s_p50"] > 0 and r["output_tokens_per_s"] > 0 for r in rows)
    assert "benchmarking qwen3.8-27b" in proc.stderr


def test_bench_with_a_wrong_key_is_a_runtime_failure(tmp_path: Path) -> None:
    with vt.Sandbox(seed=0) as sb:
        proc = run(["bench", "--requests", "2", "--concurrency", "1", "--max-tokens", "4", "--no-progress"],
                   tmp_path, clean_env(VULTR_INFERENCE_URL=sb.inference_url, VULTR_INFERENCE_API_KEY=CANARY_KEY))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    no_canary(proc.stdout, proc.stderr)


# --- report ------------------------------------------------------------------------------------------------------
def test_report_html_with_bench(tmp_path: Path) -> None:
    proc = run(["report", "--sandbox", "--out", "r/report.html", "--health-checks", "2", "--interval", "0.1",
                "--bench", "--concurrency", "1", "--requests", "3", "--max-tokens", "4", "--title", "CLI report"],
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "r" / "report.html"
    assert proc.stdout.strip() == f"report written to {path}"
    html = path.read_text()
    assert "<title>CLI report</title>" in html and html.count("data:image/png;base64,") == 6
    no_canary(html)


def test_report_parquet_directory(tmp_path: Path) -> None:
    proc = run(["report", "--sandbox", "--out", "bundle", "--health-checks", "1"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "bundle" / "report.json").read_text())
    assert set(doc["facts"]) == {"inventory", "health"}
    assert len(pd.read_parquet(tmp_path / "bundle" / "health" / "history.parquet")) == 3


# --- serve -------------------------------------------------------------------------------------------------------
def test_serve_sandbox_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = clean_env(VULTR_TOOLKIT_SERVICE_TOKEN="sk-CANARY-cli-token-77")
    proc = subprocess.Popen([sys.executable, "-m", "vultr_toolkit.cli", "serve", "--sandbox", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        assert info["auth"] is True and info["url"].startswith("http://127.0.0.1:")
        assert httpx2.get(info["url"] + "/api/vultr/health").status_code == 401
        r = httpx2.get(info["url"] + "/api/vultr/management/instances",
                       headers={"Authorization": "Bearer sk-CANARY-cli-token-77"})
        assert r.status_code == 200 and r.json()["count"] == 25
        no_canary(r.text)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "status service stopped" in err
    no_canary(err)


def _start_serve(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``vultr-toolkit serve --sandbox --port 0 <args>`` as a subprocess; (process, service URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "vultr_toolkit.cli", "serve", "--sandbox", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(30)
        raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)["url"]


def _stop_serve(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, wait, and return its stderr."""
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    return proc.stderr.read()


def _status(url: str, token: str) -> int:
    return httpx2.get(url + "/api/vultr/management/account", headers={"Authorization": f"Bearer {token}"},
                      timeout=30).status_code


def test_serve_reads_the_token_from_a_file_and_keeps_it_off_the_command_line(tmp_path: Path) -> None:
    token = "sk-CANARY-cli-token-file-3d"
    (tmp_path / "tok.txt").write_text(f"  {token}  \nsecond line is ignored\n")
    # the file beats the variable, which beats the flag: neither of the other two is accepted
    env = clean_env(VULTR_TOOLKIT_SERVICE_TOKEN="sk-CANARY-cli-token-env-0")
    proc, url = _start_serve(["--token-file", "tok.txt"], tmp_path, env)
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert b"tok.txt" in cmdline and token.encode() not in cmdline
        assert _status(url, token) == 200
        assert _status(url, "sk-CANARY-cli-token-env-0") == 401
        assert _status(url, token + "x") == 401
        assert httpx2.get(url + "/api/vultr/health", timeout=30).status_code == 401
    finally:
        err = _stop_serve(proc)
    assert "warning" not in err  # nothing on argv, nothing to warn about
    no_canary(err)


def test_serve_token_from_the_environment_beats_the_flag_and_the_flag_warns(tmp_path: Path) -> None:
    env = clean_env(VULTR_TOOLKIT_SERVICE_TOKEN="sk-CANARY-cli-token-env-1")
    proc, url = _start_serve(["--token", "flag-token-visible-in-ps"], tmp_path, env)
    try:
        assert _status(url, "sk-CANARY-cli-token-env-1") == 200
        assert _status(url, "flag-token-visible-in-ps") == 401
    finally:
        err = _stop_serve(proc)
    assert "--token puts the token in the command line" in err and "'ps'" in err
    assert "VULTR_TOOLKIT_SERVICE_TOKEN" in err and "--token-file" in err
    assert "--token is ignored: the token from VULTR_TOOLKIT_SERVICE_TOKEN takes precedence" in err
    no_canary(err)


def test_serve_token_on_the_command_line_still_works_with_a_warning(tmp_path: Path) -> None:
    proc, url = _start_serve(["--token", "flag-token-visible-in-ps"], tmp_path, clean_env())
    try:
        assert _status(url, "flag-token-visible-in-ps") == 200
        assert _status(url, "wrong") == 401
    finally:
        err = _stop_serve(proc)
    assert "warning: --token puts the token in the command line" in err
    assert "flag-token-visible-in-ps" not in err


@pytest.mark.parametrize("content, words", [
    (None, "cannot read it (No such file or directory)"),
    (b"", "the first line is empty"),
    (b"   \nsk-CANARY-cli-token-line2\n", "the first line is empty"),
    (b"\xff\xfesk-CANARY-cli-token-bin", "not a UTF-8 text file"),
    ("dir", "cannot read it (Is a directory)"),
])
def test_serve_token_file_that_gives_no_token_is_a_usage_error(tmp_path: Path, content: bytes | str | None,
                                                                words: str) -> None:
    path = tmp_path / "tok.txt"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    proc = run(["serve", "--sandbox", "--port", "0", "--token-file", str(path)], tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"vultr-toolkit serve: error: --token-file {path}: {words}"), proc.stderr
    assert proc.stdout == ""  # it never started
    no_canary(proc.stdout, proc.stderr)


def test_serve_refuses_a_busy_port(tmp_path: Path) -> None:
    with vt.Sandbox(seed=0) as sb:
        proc = run(["serve", "--sandbox", "--port", str(sb.port)], tmp_path)
    assert proc.returncode == 2 and "cannot listen on 127.0.0.1" in proc.stderr


# --- help --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: vultr-toolkit {command}")
    if command not in ("sandbox", "demo"):
        assert "--sandbox" in out


def test_cli_constants_match_the_service() -> None:
    assert cli.DEFAULT_PORT == service.DEFAULT_PORT == 3001
    assert cli.TOKEN_ENV == service.TOKEN_ENV


def test_a_missing_extra_is_named_with_its_install_command(tmp_path: Path) -> None:
    # jinja2 blocked as if the [report] extra were not installed.
    code = ("import sys; sys.modules['jinja2'] = None; from vultr_toolkit.cli import main; "
            "sys.exit(main(['report', '--sandbox', '--health-checks', '1']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env=clean_env(), timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "pip install 'vultr-toolkit[report]'" in proc.stderr and "Traceback" not in proc.stderr
