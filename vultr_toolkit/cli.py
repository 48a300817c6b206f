"""The ``vultr-toolkit`` command.

One function per subcommand (``_cmd_<name>``), each registered by its own ``_add_<name>_parser``, so later
commands slot in without touching the others.

``vultr-toolkit demo [--out FILE] [--seed S]``
    No account needed: starts a sandbox (and probes PostgreSQL / Valkey when ``VULTR_POSTGRES_URL`` /
    ``VULTR_VALKEY_URL`` are set), takes an inventory snapshot, runs a short health monitor and a short benchmark
    with progress bars, writes the HTML report (default ``./vultr-toolkit-demo.html``) and prints a summary.

``vultr-toolkit inventory [--view resources|summary|<resource>] [--format table|csv|json|parquet] [--out PATH]``
``vultr-toolkit health [--watch] [--interval S] [--count N] [--target URL] [--store URL] [--format ...]``
``vultr-toolkit bench [--model M] [--concurrency 1,4 | --rate 2,8] [--requests N] [--max-tokens N]``
``vultr-toolkit report [--out FILE.html|FILE.md|DIR] [--bench] [--health-checks N]``
``vultr-toolkit serve [--port 3001] [--host 127.0.0.1] [--token-file PATH]``
    Each works on the account configured by the environment (``VULTR_API_KEY`` …, see ``vt.Settings``), or with
    ``--sandbox`` on a throwaway local emulator; without the key they say so and point at ``--sandbox``.

Exit codes: 0 success; 1 the work failed (API error, a service down for ``health``, ``--strict`` inventory with
failed resources); 2 usage or configuration error (one line on stderr, no traceback); 130 interrupted.

``vultr-toolkit sandbox [--port N] [--seed S] [--instances N] [--host 127.0.0.1] ...``
    Runs the Vultr API emulator in the foreground until Ctrl-C or SIGTERM. The first line on stdout is one JSON
    object (``api_url``, ``inference_url``, ``api_key``, ``inference_api_key``, ``port``, ``seed``), flushed at
    once, so a parent process can start it and read where to connect; human-readable lines go to stderr.

In a shell:

.. code-block:: console

    $ vultr-toolkit sandbox --port 8080 --seed 0
    {"api_url": "http://127.0.0.1:8080/v2", "inference_url": "http://127.0.0.1:8080/v1", "api_key": "sandbox-…", …}

    >>> import subprocess, sys, json
    >>> p = subprocess.Popen([sys.executable, "-m", "vultr_toolkit.cli", "sandbox", "--duration", "0.2"],
    ...                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    >>> json.loads(p.stdout.readline())["api_url"].endswith("/v2")
    True
    >>> p.wait()
    0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], int]


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object such as '{\"bare_metals\": 10}'")
    return value


# --- sandbox --------------------------------------------------------------------------------------------------
def _add_sandbox_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sandbox", help="run the Vultr API emulator (v2 + inference) in the foreground",
                       description="Serve the Vultr v2 management API and the inference API emulator on a "
                                   "loopback port until Ctrl-C or SIGTERM. The first stdout line is JSON with the "
                                   "URLs and keys.")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--seed", type=int, default=0, help="fleet seed (default: 0)")
    p.add_argument("--instances", type=int, default=None, help="number of instances (default: 25)")
    p.add_argument("--fleet", type=_json_object, default=None,
                   help='other fleet sizes as JSON, e.g. \'{"bare_metals": 2000, "databases": 40}\'')
    p.add_argument("--api-key", default=None, help="management key to accept (default: a random sandbox- key)")
    p.add_argument("--rate-limit", type=float, default=30.0,
                   help="requests per second per client IP on /v2 before 429 (default: 30; 0 disables)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every /v2 request")
    p.add_argument("--inference", type=_json_object, default=None,
                   help="InferenceEmulator options as JSON, e.g. '{\"time_scale\": 0.1}'")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run "
                                                                  "until interrupted)")
    p.set_defaults(func=_cmd_sandbox)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import Sandbox

    sizes = dict(args.fleet or {})
    if args.instances is not None:
        sizes["instances"] = args.instances
    sb = Sandbox(seed=args.seed, fleet=sizes, port=args.port, host=args.host, api_key=args.api_key,
                 rate_limit=args.rate_limit or None, latency_ms=args.latency_ms, inference=args.inference)
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        sb.start()
        print(sb.connection_json(), flush=True)
        print(f"vultr-toolkit sandbox (seed {args.seed}) serving\n"
              f"  api_url           {sb.api_url}\n  inference_url     {sb.inference_url}\n"
              f"  api_key           {sb.api_key}\n  inference_api_key {sb.inference_api_key}\n"
              "Press Ctrl-C to stop.", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # when no handler could be installed (not main thread)
            stop.wait(args.duration)
    finally:
        sb.stop()
        _restore_handlers(previous)
    print("sandbox stopped", file=sys.stderr, flush=True)
    return 0


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    # Signal handlers can only be installed from the main thread; elsewhere Ctrl-C raises KeyboardInterrupt.
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


# --- shared by the account commands -------------------------------------------------------------------------------
NO_KEY_HINT = ("VULTR_API_KEY is not set. Export it (export VULTR_API_KEY=...) or put it in ./.env — or add "
               "--sandbox to run this command against a throwaway local emulator of the Vultr API (no account "
               "needed); 'vultr-toolkit demo' shows everything at once.")
NO_INFERENCE_HINT = ("VULTR_INFERENCE_API_KEY is not set. Export it, or add --sandbox to benchmark the local "
                     "inference emulator instead.")
FORMATS = ("table", "csv", "json")
# service.DEFAULT_PORT / service.TOKEN_ENV, repeated so that --help does not import aiohttp and pandas (a test
# checks they agree).
DEFAULT_PORT = 3001
TOKEN_ENV = "VULTR_TOOLKIT_SERVICE_TOKEN"
# The emulator's model timings scaled down: a demo or sandbox run shows real-looking curves in seconds, not minutes.
SANDBOX_TIME_SCALE = 0.25


# module -> the pyproject extra that installs it (named in the error when it is missing)
_EXTRAS = {"jinja2": "report", "markupsafe": "report", "matplotlib": "report", "pyarrow": "report",
           "psycopg2": "postgres", "redis": "valkey"}


class _UsageError(Exception):
    """A bad combination of options (exit code 2), e.g. --format parquet without --out."""


def _add_sandbox_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sandbox", action="store_true",
                   help="run against a throwaway local sandbox (an emulator of the Vultr APIs; no account needed)")
    p.add_argument("--seed", type=int, default=0, help="sandbox fleet seed with --sandbox (default: 0)")


@contextlib.contextmanager
def _settings(args: argparse.Namespace, *, needs: str | None = None) -> Iterator[Any]:
    """Settings from the environment, or from a sandbox started for this command (``--sandbox``).

    ``needs="api"`` / ``"inference"``: fail early, with how to fix it, when that key is missing.
    """
    from ._errors import ConfigError
    from ._settings import Settings

    if getattr(args, "sandbox", False):
        from .sandbox import Sandbox

        with Sandbox(seed=args.seed, inference={"time_scale": SANDBOX_TIME_SCALE}) as sb:
            _info(f"using a throwaway sandbox (seed {args.seed}) at {sb.base_url}; its inference emulator runs "
                  f"{1 / SANDBOX_TIME_SCALE:g}x faster than real time (timings x{SANDBOX_TIME_SCALE:g}), so latency "
                  "figures are not comparable with a real endpoint")
            yield sb.settings()
        return
    settings = Settings()
    if needs == "api" and settings.api_key is None:
        raise ConfigError(NO_KEY_HINT)
    if needs == "inference" and settings.inference_api_key is None:
        raise ConfigError(NO_INFERENCE_HINT)
    yield settings


def _info(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _emit(df: Any, fmt: str, out: str | None, *, max_rows: int | None = 200) -> None:
    """Write a DataFrame as a table, CSV or JSON records, to ``out`` or stdout."""
    import pandas as pd

    if fmt == "json":
        from .service import frame_records

        text = json.dumps(frame_records(df), indent=2) + "\n"
    elif fmt == "csv":
        text = df.to_csv(index=False)
    else:
        shown = df.copy()
        for c in shown.columns:  # na_rep does not reach pandas' string dtype, which would print <NA>
            if isinstance(shown[c].dtype, pd.StringDtype):
                shown[c] = shown[c].astype(object).where(shown[c].notna(), "—")
        text = (shown.to_string(index=False, max_rows=None if out else max_rows, na_rep="—") if len(df)
                else "(no rows)") + "\n"
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        _info(f"wrote {len(df)} rows to {path}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _levels(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 1,4,16, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("levels must be positive numbers such as 1,4,16")
    return values


def _user_levels(text: str) -> list[int]:
    # int() instead of float(): "1.5" users used to become 1 user silently.
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers of users such as 1,4,16, "
                                         f"got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("user counts must be positive whole numbers such as 1,4,16")
    return values


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


# --- inventory ----------------------------------------------------------------------------------------------------
def _add_inventory_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inventory", help="what the account runs and what it costs, as a table/CSV/JSON/Parquet",
                       description="Fetch the inventory and print one view of it. Views: 'resources' (one row "
                                   "per billable resource), 'summary' (count and monthly cost per type x region) "
                                   "or one resource frame (instances, databases, ...). --format parquet writes "
                                   "the whole snapshot to the --out directory (InventorySnapshot.read_parquet).")
    # No argparse choices: listing them would import pandas for every --help; _cmd_inventory checks the name.
    p.add_argument("--view", default="resources", metavar="VIEW",
                   help="resources (default), summary, or a resource name such as instances or databases")
    p.add_argument("--format", default="table", choices=(*FORMATS, "parquet"), help="output format (default: table)")
    p.add_argument("--out", default=None, help="write to this file (a directory for parquet) instead of stdout")
    p.add_argument("--strict", action="store_true", help="exit 1 when any resource could not be fetched")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_sandbox_flag(p)
    p.set_defaults(func=_cmd_inventory)


def _cmd_inventory(args: argparse.Namespace) -> int:
    from .client import Client
    from .inventory.schemas import ALL_RESOURCES, PUBLIC_RESOURCES

    if args.format == "parquet" and not args.out:
        raise _UsageError("--format parquet writes a directory: give --out DIR")
    if args.view not in ("resources", "summary", *ALL_RESOURCES):
        raise _UsageError(f"unknown --view {args.view!r}; choose resources, summary or one of "
                          f"{', '.join(ALL_RESOURCES)}")
    with _settings(args, needs="api") as settings, Client(settings) as client:
        whole = args.format == "parquet" or args.view in ("resources", "summary")
        snap = client.inventory.snapshot("all" if whole else [args.view], progress=args.progress)
    for row in snap.errors.itertuples(index=False):
        _info(f"warning: {row.resource} could not be fetched ({row.error_kind}): {row.message}")
    if args.format == "parquet":
        path = snap.to_parquet(args.out)
        _info(f"wrote the snapshot ({sum(len(f) for f in snap.frames.values())} rows in {len(snap.frames)} frames) "
              f"to {path}/")
    else:
        view = snap.resources if args.view == "resources" else snap.summary() if args.view == "summary" \
            else snap.frames.get(args.view)
        if view is not None:
            _emit(view, args.format, args.out)
    failed = set(snap.errors["resource"].astype(str)) if len(snap.errors) else set()
    # regions and plans are public catalogues that answer without a key; they do not say what you run.
    fetched = set(snap.frames) - failed - PUBLIC_RESOURCES
    if failed and not fetched:
        # Nothing of the account came back (a wrong or IP-restricted key, the API down): an empty table with
        # exit 0 would read as "you run nothing", so this is a failure even without --strict.
        _info("error: none of the account's resources could be fetched; see the warnings above")
        return 1
    return 1 if args.strict and failed else 0


# --- health -------------------------------------------------------------------------------------------------------
def _add_health_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("health", help="probe PostgreSQL, Valkey, the inference endpoint and the Vultr API",
                       description="Probe every configured service once (VULTR_POSTGRES_URL, VULTR_VALKEY_URL, "
                                   "the inference endpoint, the Vultr API) or, with --watch, every --interval "
                                   "seconds until Ctrl-C, then print uptime and latency percentiles. Exit code 1 "
                                   "when the last check found a service down.")
    p.add_argument("--watch", action="store_true", help="keep probing every --interval seconds until Ctrl-C")
    p.add_argument("--interval", type=_positive(float), default=30.0,
                   help="seconds between checks with --watch (default: 30)")
    p.add_argument("--count", type=_positive(int), default=None, help="with --watch: stop after this many checks")
    p.add_argument("--target", action="append", default=None, metavar="URL_OR_NAME",
                   help="probe this instead of the configured services (repeatable): a postgresql://, "
                        "redis:// or https:// URL, or postgres/valkey/inference/api")
    p.add_argument("--store", default=None, help="also record the samples in this history store (sqlite:///… or "
                                                 "postgresql://…)")
    p.add_argument("--format", default="table", choices=FORMATS,
                   help="output format of each check (json with --watch: one JSON array per line)")
    _add_sandbox_flag(p)
    p.set_defaults(func=_cmd_health)


_HEALTH_COLUMNS = ["checked_at", "service", "target", "status", "latency_ms", "error_kind", "message"]


def _cmd_health(args: argparse.Namespace) -> int:
    from .health import HealthMonitor, summarize

    with _settings(args) as settings, HealthMonitor(settings, args.target, store=args.store,
                                                    retries_before_down=2 if args.watch else 0) as mon:
        if not args.watch:
            df = mon.check()
            _emit(df[_HEALTH_COLUMNS], args.format, None)
            return 1 if (df["status"].astype(str) == "down").any() else 0
        stop = threading.Event()
        previous = _install_stop_handlers(stop)
        n, last = 0, None
        try:
            _info(f"checking {len(mon.probes)} target(s) every {args.interval:g} s; Ctrl-C to stop")
            while not stop.is_set():
                last = mon.check()
                if args.format == "json":  # JSON Lines: one array per check, so a pipe can read them as they come
                    from .service import frame_records

                    print(json.dumps(frame_records(last[_HEALTH_COLUMNS])), flush=True)
                else:
                    _emit(last[_HEALTH_COLUMNS], args.format, None)
                n += 1
                if args.count is not None and n >= args.count:
                    break
                stop.wait(args.interval)
        except KeyboardInterrupt:
            pass
        finally:
            _restore_handlers(previous)
        _info("\nuptime and latency over this run:")
        _info(summarize(mon.samples()).to_string(index=False, na_rep="—"))
    return 1 if last is not None and (last["status"].astype(str) == "down").any() else 0


# --- bench --------------------------------------------------------------------------------------------------------
def _add_bench_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model id (default: the endpoint's first chat model)")
    p.add_argument("--concurrency", type=_user_levels, default=None, metavar="N[,N...]",
                   help="closed-loop users per level, e.g. 1,4,16 (default: 1,4)")
    p.add_argument("--rate", type=_levels, default=None, metavar="R[,R...]",
                   help="open-loop requests/s per level instead of --concurrency, e.g. 2,8")
    p.add_argument("--requests", type=_positive(int), default=16, help="requests per level (default: 16)")
    p.add_argument("--max-tokens", type=_positive(int), default=64, help="output tokens per request (default: 64)")
    p.add_argument("--dataset", default=None, metavar="PATH",
                   help="prompts from a local .jsonl/.json (ShareGPT too)/.csv/.parquet file with a prompt or "
                        "messages column")
    p.add_argument("--dataset-sample", type=_positive(int), default=None, metavar="N",
                   help="use N rows of --dataset drawn with the seed (default: all rows)")
    p.add_argument("--extra-body", default=None, metavar="JSON",
                   help='a JSON object merged into every request body, e.g. \'{"ignore_eos": true}\'')


def _add_bench_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmark streaming latency and throughput of an inference endpoint",
                       description="Benchmark a chat model of the inference endpoint (VULTR_INFERENCE_URL, "
                                   "VULTR_INFERENCE_API_KEY) and print the per-level summary: TTFT, TPOT, ITL, "
                                   "end-to-end percentiles, throughput.")
    _add_bench_options(p)
    p.add_argument("--format", default="table", choices=FORMATS, help="output format (default: table)")
    p.add_argument("--out", default=None, help="write the summary to this file instead of stdout")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _add_sandbox_flag(p)
    p.set_defaults(func=_cmd_bench)


_BENCH_TABLE = ["level", "mode", "requests", "errors", "ttft_s_p50", "ttft_s_p99", "tpot_s_p50", "itl_s_p50",
                "e2e_s_p50", "e2e_s_p99", "output_tokens_per_s", "requests_per_s"]


def _run_bench(client: Any, args: argparse.Namespace, progress: bool) -> Any:
    from . import bench
    from ._errors import ConfigError

    if args.concurrency is not None and args.rate is not None:
        raise _UsageError("give --concurrency or --rate, not both")
    model = args.model
    if model is None:
        models = client.inference.models()
        chat = models[models["is_chat"].fillna(False).astype(bool)] if "is_chat" in models else models
        if not len(chat):
            raise ConfigError("the endpoint lists no chat model; pass --model")
        model = str(chat["id"].iloc[0])
    load: dict[str, Any] = ({"rate": args.rate} if args.rate is not None
                            else {"concurrency": [int(c) for c in (args.concurrency or [1, 4])]})
    _info(f"benchmarking {model}: {load}, {args.requests} requests per level, max_tokens {args.max_tokens}")
    extra: dict[str, Any] = {}
    if getattr(args, "dataset", None) is not None:
        extra["prompts"] = args.dataset
        extra["dataset_sample"] = args.dataset_sample
    if getattr(args, "extra_body", None) is not None:
        try:
            extra["extra_body"] = json.loads(args.extra_body)
        except ValueError as e:
            raise ConfigError(f"--extra-body must be a JSON object, e.g. '{{\"ignore_eos\": true}}': {e}") from None
    return bench.run(client, model=model, requests=args.requests, max_tokens=args.max_tokens, progress=progress,
                     **load, **extra)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    # SIGTERM gets Ctrl-C's treatment (load stopped, finished levels saved), not an abrupt death mid-load.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_bench(args: argparse.Namespace) -> int:
    from .client import Client

    res = None
    with _sigterm_as_interrupt(), _settings(args, needs="inference") as settings, Client(settings) as client:
        try:
            res = _run_bench(client, args, args.progress)
        except KeyboardInterrupt as e:  # bench.run stopped the load; save what finished, then exit 130
            res = getattr(e, "partial_result", None)
            if res is None:
                raise
    interrupted = bool(res.meta.get("interrupted"))
    summary = res.summary(warn=False)
    _emit(summary if args.format != "table" else summary[[c for c in _BENCH_TABLE if c in summary]].round(4),
          args.format, args.out)
    if interrupted:
        _info(f"interrupted: load stopped; the {len(res.levels)} completed level(s) above are saved "
              "(a level cut midway is dropped)")
        return 130
    failed = int((res.requests["status"] == "error").sum())
    if failed:
        _info(f"warning: {failed} of {len(res.requests)} requests failed")
    return 1 if failed == len(res.requests) else 0


# --- report -------------------------------------------------------------------------------------------------------
def _add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="write an HTML (or Markdown / Parquet) report of inventory, health and a "
                                      "benchmark",
                       description="Take an inventory snapshot (when VULTR_API_KEY is set), run a short health "
                                   "monitor (when any service is configured) and, with --bench, a benchmark; "
                                   "write one report. The format follows --out: .html (one self-contained file), "
                                   ".md (PNGs beside it), or a Parquet directory (a path without a suffix, or "
                                   "ending in .parquet or /). Exit 1 when a section could not be produced or "
                                   "the health checks found a service down (the report is still written with "
                                   "what could be gathered).")
    p.add_argument("--out", default="vultr-toolkit-report.html",
                   help="report file (.html, .md) or directory (Parquet); default: ./vultr-toolkit-report.html")
    p.add_argument("--title", default="Vultr toolkit report", help="report title")
    p.add_argument("--health-checks", type=int, default=5, help="health checks to run (default: 5; 0 skips)")
    p.add_argument("--interval", type=_positive(float), default=1.0, help="seconds between health checks "
                                                                          "(default: 1)")
    p.add_argument("--bench", action="store_true", help="also run a benchmark (options below)")
    _add_bench_options(p)
    _add_sandbox_flag(p)
    p.set_defaults(func=_cmd_report, requests=8, max_tokens=32)


REPORT_FORMATS = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown", ".parquet": "parquet",
                  "": "parquet"}


def _report_format(out: str) -> str:
    """The report format ``--out`` asks for; a usage error for any other suffix (``x.pdf`` once became a
    Parquet *directory* named x.pdf)."""
    suffix = "" if out.endswith(("/", "\\")) else Path(out).suffix.lower()
    try:
        return REPORT_FORMATS[suffix]
    except KeyError:
        raise _UsageError(f"--out {out!r}: unknown report format {suffix!r}; use .html/.htm (one file), "
                          ".md/.markdown (PNGs beside it), or a directory path without a suffix (or ending in "
                          ".parquet) for a Parquet bundle") from None


def _write_report(rep: Any, out: str) -> Path:
    fmt = _report_format(out)
    if fmt == "html":
        return Path(rep.to_html(out))
    if fmt == "markdown":
        return Path(rep.to_markdown(out))
    return Path(rep.to_parquet(out))


def _collect(settings: Any, args: argparse.Namespace, *, health_checks: int, interval: float, bench: bool,
             problems: list[str] | None = None) -> dict[str, Any]:
    """Gather what the settings allow: inventory (API key), health (any target), benchmark (when asked).

    A section that fails is left out and described in ``problems`` (when given; else the error propagates), so
    the other sections still make it into the report.
    """
    from ._errors import ConfigError, VultrToolkitError
    from .client import Client
    from .health import HealthMonitor
    from .health.monitor import default_probes

    parts: dict[str, Any] = {}

    def section(name: str, make: Callable[[], Any]) -> None:
        try:
            parts[name] = make()
        except ConfigError:
            raise
        except VultrToolkitError as e:
            if problems is None:
                raise
            problems.append(f"{name}: could not be produced: {e.message}")
            _info(f"error: the {name} section could not be produced: {e.message}")

    with Client(settings) as client:
        if settings.api_key is not None:
            _info("inventory snapshot ...")
            section("inventory", lambda: client.inventory.snapshot(progress=True))
        if health_checks > 0 and default_probes(settings):
            names = ", ".join(p.service for p in default_probes(settings))
            _info(f"health: {health_checks} checks of {names}, every {interval:g} s ...")

            def health() -> Any:
                with HealthMonitor(settings) as mon:
                    return mon.run(interval_s=interval, count=health_checks, progress=True)

            section("health", health)
        if bench:
            section("benchmark", lambda: _run_bench(client, args, True))
    return parts


def _report_problems(parts: dict[str, Any]) -> list[str]:
    """What makes a produced report a failure: a service down at the last check, a benchmark without a single
    successful request."""
    out: list[str] = []
    hist = parts.get("health")
    if hist is not None and len(hist):
        last = hist.sort_values("checked_at").groupby("service", observed=True).tail(1)  # each service's last
        down = sorted({str(s) for s, st in zip(last["service"], last["status"], strict=True)
                       if str(st) == "down" and str(s) != "overall"})
        if down:
            out.append(f"health: down at the last check: {', '.join(down)}")
    res = parts.get("benchmark")
    if res is not None and len(res.requests) and not (res.requests["status"].astype(str) == "ok").any():
        out.append(f"benchmark: none of its {len(res.requests)} requests succeeded")
    return out


def _cmd_report(args: argparse.Namespace) -> int:
    from . import report
    from ._errors import ConfigError

    _report_format(args.out)  # an unknown suffix is a usage error before any work
    problems: list[str] = []
    with _settings(args) as settings:
        parts = _collect(settings, args, health_checks=args.health_checks, interval=args.interval, bench=args.bench,
                         problems=problems)
        if not parts and not problems:
            raise ConfigError("nothing to report: set VULTR_API_KEY (inventory), VULTR_POSTGRES_URL / "
                              "VULTR_VALKEY_URL / VULTR_INFERENCE_API_KEY (health), or add --sandbox")
        problems += _report_problems(parts)
        if not parts:
            for p in problems:
                _info(f"error: {p}")
            _info("error: no section could be produced; no report written")
            return 1
        rep = report.build(**parts, title=args.title, settings=settings)
        path = _write_report(rep, args.out)
    print(f"report written to {path.resolve()}", flush=True)
    if problems:
        _info(f"error: the report is incomplete or shows failures ({len(problems)}): " + "; ".join(problems))
        return 1
    return 0


# --- serve --------------------------------------------------------------------------------------------------------
def _add_serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve the /api/vultr REST status endpoints",
                       description="Serve GET /api/vultr/health, /stats, POST /api/vultr/test and "
                                   "/api/vultr/management/{account,databases,databases/{id},databases/{id}/health,"
                                   "valkey,instances,summary} as JSON until Ctrl-C. The first stdout line is JSON "
                                   "with the URL.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0: a free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--token-file", default=None, metavar="PATH",
                   help="require 'Authorization: Bearer TOKEN' on every route, TOKEN being the first line of PATH "
                        f"(takes precedence over ${TOKEN_ENV}, which takes precedence over --token)")
    p.add_argument("--token", default=None,
                   help=f"the token on the command line: visible to every local user in ps; prefer ${TOKEN_ENV} "
                        "or --token-file")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: run "
                                                                  "until interrupted)")
    _add_sandbox_flag(p)
    p.set_defaults(func=_cmd_serve)


def _read_token_file(path: str) -> str:
    """The first line of ``path``, stripped; a usage error (naming the flag, never the file's content) otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline().strip()
    except UnicodeDecodeError:
        raise _UsageError(f"--token-file {path}: not a UTF-8 text file; put the token alone on its first "
                          "line") from None
    except OSError as e:
        raise _UsageError(f"--token-file {path}: cannot read it ({e.strerror or type(e).__name__})") from None
    if not first:
        raise _UsageError(f"--token-file {path}: the first line is empty; put the token alone on it")
    return first


def _serve_token(args: argparse.Namespace) -> str | None:
    """The bearer token for ``serve``: ``--token-file`` > ``$VULTR_TOOLKIT_SERVICE_TOKEN`` > ``--token``.

    A file or the environment keep the token out of the process's command line, which every local user can read
    (``ps -ef``, ``/proc/<pid>/cmdline``); ``--token`` still works but warns. None: no token anywhere.
    """
    if args.token:
        _info(f"warning: --token puts the token in the command line, visible to every user of this machine in "
              f"'ps'; set {TOKEN_ENV} or use --token-file PATH instead")
    if args.token_file is not None:
        source, token = "--token-file", _read_token_file(args.token_file)
    elif os.environ.get(TOKEN_ENV):
        source, token = TOKEN_ENV, os.environ[TOKEN_ENV]
    else:
        return args.token
    if args.token is not None:
        _info(f"warning: --token is ignored: the token from {source} takes precedence")
    return token


def _cmd_serve(args: argparse.Namespace) -> int:
    from .service import serve

    token = _serve_token(args)

    def ready(svc: Any) -> None:
        print(json.dumps({"url": svc.url, "auth": svc.auth_enabled}), flush=True)
        _info(f"vultr-toolkit status service at {svc.url}/api/vultr (auth {'on' if svc.auth_enabled else 'off'}); "
              "Ctrl-C to stop")
        if not svc.auth_enabled and args.host not in ("127.0.0.1", "localhost", "::1"):
            _info(f"warning: listening on {args.host} without a token; anyone who can reach it can read the "
                  f"inventory. Set {TOKEN_ENV} or use --token-file PATH.")

    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        with _settings(args) as settings:
            serve(settings, host=args.host, port=args.port, token=token, duration_s=args.duration,
                  on_ready=ready, stop=stop)
    finally:
        _restore_handlers(previous)
    _info("status service stopped")
    return 0


# --- demo -----------------------------------------------------------------------------------------------------------
def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="the whole toolkit in ~20 s against a local sandbox (no account needed)",
                       description="Start a sandbox (an emulator of the Vultr APIs on 127.0.0.1), take an "
                                   "inventory snapshot, run a short health monitor (also of PostgreSQL / Valkey "
                                   "when VULTR_POSTGRES_URL / VULTR_VALKEY_URL are set) and a short inference "
                                   "benchmark, write an HTML report and print a summary.")
    p.add_argument("--out", default="vultr-toolkit-demo.html",
                   help="report file (default: ./vultr-toolkit-demo.html; .md or a directory also work)")
    p.add_argument("--seed", type=int, default=0, help="sandbox fleet seed (default: 0)")
    p.add_argument("--port", type=int, default=0, help="sandbox port (default: 0, a free port)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="keep the sandbox serving this many seconds afterwards, e.g. for the notebooks "
                        "(default: 0, exit; -1: until Ctrl-C)")
    p.set_defaults(func=_cmd_demo, model=None, concurrency=[1, 4], rate=None, requests=8, max_tokens=32)


def _demo_summary(parts: dict[str, Any], path: Path) -> list[str]:
    import pandas as pd

    from .health import summarize

    lines: list[str] = []
    snap = parts["inventory"]
    totals = snap.summary()
    totals = totals[totals["region"].astype(str) == "total"]
    lines += ["", "Inventory (list prices)", f"  {'resource':<26}{'cost/month':>14}{'count':>8}"]
    for row in totals.itertuples(index=False):
        cost = "—" if pd.isna(row.monthly_cost_usd) else f"${row.monthly_cost_usd:,.2f}"
        label = str(row.resource_type).replace("total", "all resources")
        lines.append(f"  {label:<26}{cost:>14}{int(row.count):>8}")
    s = summarize(parts["health"])
    lines += ["", "Health"]
    for row in s.itertuples(index=False):
        lines.append(f"  {row.service!s:<12} uptime {row.uptime_pct:6.1f} %   latency p50 {row.latency_p50_ms:7.2f} ms"
                     f"   p95 {row.latency_p95_ms:7.2f} ms")
    res = parts["benchmark"]
    b = res.summary(warn=False).sort_values("level")
    lines += ["", f"Benchmark of {res.meta['model']} (sandbox emulator, timings x{SANDBOX_TIME_SCALE:g})"]
    for row in b.itertuples(index=False):
        lines.append(f"  {int(row.level):>3} user(s): TTFT p50 {row.ttft_s_p50 * 1000:7.1f} ms   TPOT p50 "
                     f"{row.tpot_s_p50 * 1000:6.2f} ms   {row.output_tokens_per_s:8.0f} tokens/s")
    lines += ["", f"Report: {path.resolve()}", "Open it in a browser; it is one self-contained file.",
              "Next: 'vultr-toolkit inventory --sandbox', 'vultr-toolkit serve --sandbox', or set VULTR_API_KEY "
              "and drop --sandbox."]
    return lines


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import report
    from .sandbox import Sandbox

    t0 = time.monotonic()
    with Sandbox(seed=args.seed, port=args.port, inference={"time_scale": SANDBOX_TIME_SCALE}) as sb:
        print(f"vultr-toolkit demo: no account needed; everything below runs against a local sandbox.\n"
              f"Sandbox (seed {args.seed}) at {sb.api_url}; inference at {sb.inference_url} (emulator timings "
              f"scaled x{SANDBOX_TIME_SCALE:g}: {1 / SANDBOX_TIME_SCALE:g}x faster than real time)", flush=True)
        settings = sb.settings()
        extra = [n for n, v in (("PostgreSQL", settings.postgres_url), ("Valkey", settings.valkey_url)) if v]
        if extra:
            print(f"Also probing {' and '.join(extra)} from VULTR_POSTGRES_URL / VULTR_VALKEY_URL.", flush=True)
        parts = _collect(settings, args, health_checks=6, interval=0.5, bench=True)
        _info("writing the report ...")
        rep = report.build(**parts, title="vultr-toolkit demo (sandbox)", settings=settings,
                           note="generated by 'vultr-toolkit demo' against the local sandbox (made-up fleet; "
                                f"emulated inference timings scaled x{SANDBOX_TIME_SCALE:g})")
        path = _write_report(rep, args.out)
        print("\n".join(_demo_summary(parts, path)), flush=True)
        print(f"Done in {time.monotonic() - t0:.1f} s.", flush=True)
        if args.duration:
            _info(f"Sandbox still serving at {sb.api_url} (api key {sb.api_key}); Ctrl-C to stop.")
            stop = threading.Event()
            previous = _install_stop_handlers(stop)
            try:
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait(None if args.duration < 0 else args.duration)
            finally:
                _restore_handlers(previous)
    return 0


# --- entry point ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``vultr-toolkit`` argument parser with every subcommand."""
    from ._version import __version__

    parser = argparse.ArgumentParser(prog="vultr-toolkit",
                                     description="Vultr inventory, health histories and inference benchmarks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo_parser(sub)
    _add_inventory_parser(sub)
    _add_health_parser(sub)
    _add_bench_parser(sub)
    _add_report_parser(sub)
    _add_serve_parser(sub)
    _add_sandbox_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (``vultr-toolkit`` exits with it).

    Example: ``main(["sandbox", "--seed", "1", "--duration", "5"])`` serves for five seconds and returns 0.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    from ._errors import ConfigError, VultrToolkitError
    from ._redact import redact

    try:
        return func(args)
    except _UsageError as e:
        print(f"vultr-toolkit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:  # bad or missing configuration: exit 2, like a usage error
        print(f"vultr-toolkit {args.command}: error: {e.message}", file=sys.stderr)
        if hasattr(args, "sandbox") and not args.sandbox and "--sandbox" not in e.message:
            print("  hint: add --sandbox to run it against a throwaway local emulator (no account needed)",
                  file=sys.stderr)
        return 2
    except VultrToolkitError as e:  # the work itself failed (API, store, stream): exit 1
        print(f"vultr-toolkit {args.command}: failed: {e.message}", file=sys.stderr)
        for note in getattr(e, "__notes__", ()):  # e.g. which resources a failed snapshot could not fetch
            print(f"  {redact(str(note))}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:  # an optional extra is not installed
        extra = _EXTRAS.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"vultr-toolkit {args.command}: error: this needs {e.name}, which is not installed: "
              f"pip install 'vultr-toolkit[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
