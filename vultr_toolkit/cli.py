"""The ``vultr-toolkit`` command.

One function per subcommand (``_cmd_<name>``), each registered by its own ``_add_<name>_parser``, so later
commands slot in without touching the others. Today:

``vultr-toolkit demo [--seed S]``
    Starts the sandbox and tours it with :class:`vultr_toolkit.Client` (counts per resource, instance list
    price); a placeholder for the notebook issue's richer demo.

``vultr-toolkit sandbox [--port N] [--seed S] [--instances N] [--host 127.0.0.1] ...``
    Runs the Vultr API emulator in the foreground until Ctrl-C or SIGTERM. The first line on stdout is one JSON
    object (``api_url``, ``inference_url``, ``api_key``, ``inference_api_key``, ``port``, ``seed``), flushed at
    once, so a parent process can start it and read where to connect; human-readable lines go to stderr.

Example::

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
import signal
import sys
import threading
from collections.abc import Callable, Sequence
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


# --- demo -----------------------------------------------------------------------------------------------------
def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="start the sandbox and tour it with the toolkit's client (no account needed)",
                       description="Start the sandbox, list what it runs through vultr_toolkit.Client, then keep "
                                   "serving until Ctrl-C (or --duration seconds) so notebooks can connect.")
    p.add_argument("--seed", type=int, default=0, help="fleet seed (default: 0)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: 0, a free port)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="keep serving this many seconds after the tour (default: 0, exit; -1: until Ctrl-C)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .client import Client
    from .sandbox import Sandbox

    routes = [("instances", "/instances", "instances"), ("bare metal", "/bare-metals", "bare_metals"),
              ("VKE clusters", "/kubernetes/clusters", "vke_clusters"), ("databases", "/databases", "databases"),
              ("load balancers", "/load-balancers", "load_balancers"), ("block volumes", "/blocks", "blocks")]
    with Sandbox(seed=args.seed, port=args.port) as sb:
        print(f"Sandbox (seed {args.seed}) at {sb.api_url}; inference at {sb.inference_url}", flush=True)
        with Client(sb.settings()) as client:
            plans = {p["id"]: float(p["monthly_cost"]) for p in client.management.paginate("/plans", "plans")}
            for label, path, key in routes:
                items = client.management.paginate(path, key)
                print(f"  {label:<15}{len(items):>6}", flush=True)
                if key == "instances":
                    cost = sum(plans.get(i["plan"], 0.0) for i in items)
                    print(f"  {'':<15}{'':>6}  list price of the instances: ${cost:,.2f}/month", flush=True)
        if args.duration:
            print("Serving; press Ctrl-C to stop.", file=sys.stderr, flush=True)
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
    _add_sandbox_parser(sub)
    _add_demo_parser(sub)
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
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
