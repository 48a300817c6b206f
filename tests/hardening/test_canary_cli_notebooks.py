"""Canary scan of every CLI subcommand (the demo included) and every notebook, as subprocesses with DEBUG logging.

Discovery is automatic: the subcommands come from ``vultr_toolkit.cli.build_parser()`` and the notebooks from
``notebooks/*.ipynb``. A subcommand without a scenario below still runs (``--help``) and is scanned, and the test
says so with a warning, so a new command is never silently unscanned; a known command that disappeared fails
with a message naming it. Each run gets the canary environment (keys accepted by the sandbox, PostgreSQL and
Valkey passwords, the service token) with ``TMPDIR`` and the working directory in the test's temp dir, so every
file it writes — reports, Parquet, SQLite stores — is scanned too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from vultr_toolkit.cli import build_parser

from . import canary
from .conftest import CanaryStack

pytestmark = [pytest.mark.postgres, pytest.mark.valkey, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MODEL = "qwen3.8-27b"
BOOT = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, "
        "format='%(name)s %(levelname)s %(message)s'); "
        "from vultr_toolkit.cli import main; sys.exit(main(sys.argv[1:]))")

# command -> list of (scenario id, argv, env overrides, expect success)
SCENARIOS: dict[str, list[tuple[str, list[str], dict[str, str], bool | None]]] = {
    "demo": [("demo", ["demo", "--out", "demo.html"], {}, True)],
    "inventory": [
        ("inventory-json", ["inventory", "--format", "json", "--no-progress"], {}, True),
        ("inventory-parquet", ["inventory", "--format", "parquet", "--out", "inventory-parquet", "--no-progress"],
         {}, True),
        ("inventory-wrong-key", ["inventory", "--format", "json", "--no-progress"],
         # Exit status not asserted: today every resource failing with 401 still exits 0 (reported to the lead).
         {"VULTR_API_KEY": canary.WRONG_KEY}, None),
    ],
    "health": [
        ("health", ["health", "--count", "2", "--interval", "0.2"], {}, True),
        # exit status not asserted: it depends on which target the command counts as failing
        ("health-wrong-passwords", ["health", "--count", "1", "--interval", "0.2"],
         {"VULTR_API_KEY": canary.WRONG_KEY, "VULTR_INFERENCE_API_KEY": canary.WRONG_KEY,
          "VULTR_VALKEY_URL": "{valkey_wrong_url}"}, None),
    ],
    "bench": [("bench", ["bench", "--model", MODEL, "--concurrency", "1", "--requests", "3", "--max-tokens", "8",
                         "--no-progress"], {}, True),
              ("bench-wrong-key", ["bench", "--model", MODEL, "--concurrency", "1", "--requests", "2",
                                   "--max-tokens", "4", "--no-progress"],
               {"VULTR_INFERENCE_API_KEY": canary.WRONG_KEY}, False)],
    "report": [("report", ["report", "--out", "report.html", "--health-checks", "1", "--interval", "0.2", "--bench",
                           "--model", MODEL, "--concurrency", "1", "--requests", "3", "--max-tokens", "8"], {}, True)],
    "serve": [("serve", ["serve", "--port", "0", "--duration", "2"], {}, True)],
    "sandbox": [("sandbox", ["sandbox", "--duration", "0.5"], {}, True)],
}


def _subcommands() -> list[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    return []


COMMANDS = _subcommands()


def _cases() -> list[Any]:
    out = []
    for cmd in COMMANDS:
        for sid, argv, env, ok in SCENARIOS.get(cmd, [(f"{cmd}-help", [cmd, "--help"], {}, True)]):
            out.append(pytest.param(cmd, argv, env, ok, id=sid))
    return out


def _env(stack: CanaryStack, tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VULTR_")}
    env.update(stack.env(tmp))
    env.update({k: v.replace("{valkey_wrong_url}", stack.valkey_wrong_url) for k, v in extra.items()})
    env["TMPDIR"] = str(tmp)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_every_known_command_is_still_registered() -> None:
    missing = sorted(set(SCENARIOS) - set(COMMANDS))
    assert not missing, f"CLI subcommands the canary scan expects are not registered: {missing}"


@pytest.mark.parametrize(("cmd", "argv", "extra_env", "expect_ok"), _cases())
def test_cli_command_leaks_no_canary(canary_stack: CanaryStack, tmp_path: Path, cmd: str, argv: list[str],
                                     extra_env: dict[str, str], expect_ok: bool | None) -> None:
    if cmd not in SCENARIOS:
        warnings.warn(f"CLI subcommand {cmd!r} has no canary scenario yet: only its --help was scanned; add one "
                      "to SCENARIOS in tests/hardening/test_canary_cli_notebooks.py", stacklevel=1)
    proc = subprocess.run([sys.executable, "-c", BOOT, *argv], cwd=tmp_path, env=_env(canary_stack, tmp_path,
                                                                                    extra_env),
                          capture_output=True, text=True, timeout=240)
    f = canary.Findings()
    f.text("stdout", proc.stdout)
    f.text("stderr (DEBUG log)", proc.stderr)
    f.files(tmp_path)
    for db in tmp_path.rglob("*.sqlite"):
        f.sqlite_rows(db)
    tail = f"rc={proc.returncode}\nstdout: {proc.stdout[-1500:]}\nstderr: {proc.stderr[-3000:]}"
    if expect_ok is True:
        assert proc.returncode == 0, tail
    elif expect_ok is False:
        assert proc.returncode != 0, tail
    f.assert_clean()


NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
LOGGING_CELL = ("import logging, sys\n"
                "logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, force=True, "
                "format='%(name)s %(levelname)s %(message)s')")


def test_notebooks_exist() -> None:
    assert NOTEBOOKS, "no notebooks/*.ipynb found: the canary scan of the notebooks ran on nothing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_leaks_no_canary(canary_stack: CanaryStack, tmp_path: Path, path: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    nb = json.loads(path.read_text())
    outputs: list[str] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            outputs.append(content["text"])
        elif kind in ("execute_result", "display_data", "update_display_data"):
            outputs.append(json.dumps(content.get("data", {})))
        elif kind == "error":
            text = "\n".join(content.get("traceback", []))
            outputs.append(text)
            errors.append(text)

    km, kc = start_new_kernel(kernel_name="python3", env=_env(canary_stack, tmp_path, {}), cwd=str(tmp_path),
                              startup_timeout=120)
    try:
        kc.execute_interactive(LOGGING_CELL, output_hook=hook, timeout=60)
        for cell in nb["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            kc.execute_interactive(source, output_hook=hook, timeout=180)
            if errors:
                break
        # Every public object the notebook holds, as IPython would show it (repr and HTML repr).
        kc.execute_interactive(
            "for _n, _v in list(globals().items()):\n"
            "    if not _n.startswith('_') and type(_v).__module__.startswith(('vultr_toolkit', 'pandas')):\n"
            "        print(_n, repr(_v)[:20000]); _h = getattr(_v, '_repr_html_', None)\n"
            "        print(_h()[:200000] if callable(_h) and not isinstance(_v, type) else '')\n",
            output_hook=hook, timeout=120)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    assert not errors, f"{path.name} raised:\n{errors[0][-3000:]}"
    assert any("DEBUG" in o for o in outputs), "DEBUG logging did not reach the notebook's output"
    f = canary.Findings()
    f.text(f"{path.name} outputs", "\n".join(outputs))
    f.files(tmp_path)
    for db in tmp_path.rglob("*.sqlite"):
        f.sqlite_rows(db)
    f.assert_clean()
