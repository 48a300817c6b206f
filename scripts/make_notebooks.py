# ruff: noqa: E501  (notebook cell sources are kept verbatim)
"""Generate notebooks/0*.ipynb (no outputs): `python scripts/make_notebooks.py`, then commit the diff.

Editing the notebooks here keeps their cell ids stable and their outputs out of git.
"""
from pathlib import Path

import nbformat as nbf
from nbformat.v4 import new_code_cell as code
from nbformat.v4 import new_markdown_cell as md
from nbformat.v4 import new_notebook

SETUP_MD = """## Connect: your account, or the sandbox

If `VULTR_API_KEY` is set (in the environment or a `.env` file), the cells below talk to **your Vultr account**.
Otherwise they start a **sandbox**: a local server on `127.0.0.1` that emulates the Vultr v2 API and the
Serverless Inference API with a seeded, made-up fleet — no account, no network, the same results on every run."""

def setup(extra: str = "") -> str:
    return f"""%matplotlib inline
import os
import tempfile
from pathlib import Path

import pandas as pd
import vultr_toolkit as vt

workdir = Path(tempfile.mkdtemp(prefix="vultr-toolkit-"))  # files this notebook writes go here
if os.environ.get("VULTR_API_KEY"):
    sandbox = None
    settings = vt.Settings()                                    # your account, from the environment / .env
else:
    sandbox = vt.Sandbox(seed=0{extra}).start()   # emulated Vultr APIs on 127.0.0.1
    settings = sandbox.settings()
client = vt.Client(settings)
client"""

CLEANUP = """import shutil

client.close()
if sandbox is not None:
    sandbox.stop()
shutil.rmtree(workdir)   # the files this notebook wrote"""

CLEANUP_KEEP = """client.close()
if sandbox is not None:
    sandbox.stop()
print(f"the report stays in {workdir}")"""

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def write(name, cells):
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"   # stable ids: regenerating gives a small diff
    nbf.write(nb, str(NOTEBOOKS / name))

# ---------------------------------------------------------------------------------------------------------------
write("01-inventory.ipynb", [
    md("""# 1 · Inventory: what do we run, and what does it cost?

This notebook takes an **inventory snapshot** of a Vultr account — instances, bare metal, Kubernetes, load
balancers, block and object storage, managed databases, snapshots and inference subscriptions — and turns it into
pandas DataFrames you can filter, plot, compare and keep. It runs top to bottom in a few seconds."""),
    md(SETUP_MD),
    code(setup()),
    md("""## One snapshot, every resource

`client.inventory.snapshot()` pages through every list endpoint (respecting Vultr's rate limit, retrying
transient errors) and returns an `InventorySnapshot`: one DataFrame per resource in `.frames`, a failure table in
`.errors` (a resource that fails does not abort the others) and one timestamp for the lot. Its HTML view shows the
row counts and the known monthly cost."""),
    code("""snap = client.inventory.snapshot()
snap"""),
    md("""## Everything billable in one long table

`snap.resources` has one row per billable thing: `resource_type`, `id`, `label`, `region`, `status`,
`monthly_cost_usd` and `created_at`. Labels such as region and status are `category`, costs are nullable
`Float64` (missing where the API gives no price) and timestamps are `datetime64[us, UTC]` — the same columns and
dtypes whether the account has 0 or 10,000 resources."""),
    code("""res = snap.resources
res.sort_values("monthly_cost_usd", ascending=False).head(10)"""),
    code("""res.dtypes"""),
    md("""## Counts and costs per type and region

`snap.summary()` counts resources and sums their known monthly cost per resource type and region, with a
`total` row per type and a grand total."""),
    code("""summary = snap.summary()
summary[summary["region"] == "total"]"""),
    md("""## Where the resources and the money are

The plots take the `resources` frame and return a matplotlib `Axes` (they never touch pyplot's global state, so
they compose into your own figures). Left: how many resources each region holds, split by type. Right: the known
monthly cost per resource type, split by status — a suspended or pending resource that still costs money stands
out here."""),
    code("""from matplotlib.figure import Figure

fig = Figure(figsize=(13, 4.5), layout="constrained")
left, right = fig.subplots(1, 2)
vt.plot.plot_inventory(res, by="region", value="count", ax=left)
vt.plot.plot_inventory(res, by="resource_type", value="monthly_cost_usd", ax=right)
fig"""),
    md("""The ten most expensive single resources, coloured by type (the same colours as above):"""),
    code("""vt.plot.plot_cost(res, top=10).figure"""),
    md("""## Ask pandas the questions

Each resource also has its own, wider frame (`snap["instances"]`, `snap["databases"]`, … or directly
`client.inventory.instances()`), with every field the API returns except secrets. For example, the monthly
instance cost per region and plan:"""),
    code("""inst = snap["instances"]
(inst.groupby(["region", "plan"], observed=True)["monthly_cost_usd"].sum()
     .sort_values(ascending=False).head(8).to_frame())"""),
    md("""## Explore interactively

`vt.widgets.InventoryExplorer` puts filters (resource type, region, status) next to the charts and the table.
Click around; everything it shows is also available as attributes: `.frame` is the filtered rows, `.figure` the
current chart. Setting a control from code does the same as clicking it:"""),
    code("""explorer = vt.widgets.InventoryExplorer(snap)
explorer"""),
    code("""explorer.controls["region"].value = ("ewr",)
explorer.controls["value"].value = "monthly_cost_usd"
explorer.frame[["resource_type", "label", "region", "status", "monthly_cost_usd"]]"""),
    md("""## Keep it

A snapshot saves to Parquet (one file per frame, dtypes preserved) or into the toolkit's history store (SQLite
by default, PostgreSQL with a URL); two snapshots taken at different times compare with `vt.inventory.diff`."""),
    code("""path = snap.to_parquet(workdir / "inventory")
store_url = f"sqlite:///{workdir / 'history.sqlite'}"
snapshot_id = snap.save(store_url)
sorted(p.name for p in path.iterdir())[:5], snapshot_id"""),
    code("""again = vt.inventory.InventorySnapshot.load(store_url, snapshot_id)
vt.inventory.diff(snap, again)   # nothing changed between the two: an empty diff"""),
    code(CLEANUP),
])

# ---------------------------------------------------------------------------------------------------------------
write("02-health.ipynb", [
    md("""# 2 · Health: is our data layer healthy, and how has it been?

A `HealthMonitor` probes each target — PostgreSQL, Valkey, the inference endpoint and the Vultr API — at an
interval and records one **sample** per probe: status (`up`, `degraded`, `down`, `maintenance`), latency and a
redacted error. From a history of samples the toolkit computes uptime, latency percentiles, **incidents**
(contiguous down periods) and MTTR. This notebook runs a short monitor, provokes an outage, and looks at the
result. It runs in about half a minute."""),
    md(SETUP_MD + """

With the sandbox, the monitor watches the emulated inference endpoint and the emulated management API; set
`VULTR_POSTGRES_URL` / `VULTR_VALKEY_URL` to watch a PostgreSQL and a Valkey as well."""),
    code(setup()),
    md("""## One check

`check()` probes every configured target once and adds an `overall` row (down if any target is down), the shape
of the original integration's health endpoint. A target is only reported `down` after
`retries_before_down + 1` consecutive failures; earlier failures are `degraded` with `pending` in `details`."""),
    code("""targets = ["inference", "api"] + [t for t in ("postgres", "valkey") if os.environ.get(f"VULTR_{t.upper()}_URL")]
mon = vt.HealthMonitor(settings, targets=targets, retries_before_down=1)
mon.check()[["checked_at", "service", "status", "latency_ms", "message"]]"""),
    md("""## A short history with an outage

Twelve healthy ticks, then (sandbox only) the management API answers HTTP 503 for six ticks, then it recovers.
`run()` returns the samples of that run; `mon.samples()` keeps everything the monitor has seen."""),
    code("""mon.run(interval_s=0.2, count=12)
if sandbox is not None:
    sandbox.set_faults("/v2/account*", p503=1.0, retry_after_s=None)   # the API goes down...
    mon.run(interval_s=0.2, count=6)
    sandbox.clear_faults()                                              # ...and comes back
mon.run(interval_s=0.2, count=8)
history = mon.samples()
history[["checked_at", "service", "status", "latency_ms", "error_kind"]].tail(8)"""),
    md("""## Uptime, latency percentiles, incidents

`vt.health.summarize` gives per target the number of samples, uptime % (maintenance excluded; pending failures
count as down time), p50/p95/p99 latency, the number of incidents and their mean time to recovery.
`vt.health.incidents` lists each incident with its start, end, duration and first error."""),
    code("""vt.health.summarize(history)"""),
    code("""vt.health.incidents(history)"""),
    md("""## The timeline and the latency

Top: one row per target, coloured by status over time; incidents are shaded. Bottom: p50 (solid), p95 (dashed)
and p99 (dotted) probe latency per time bucket, per target."""),
    code("""vt.widgets.health_figure(history)   # = vt.plot.plot_health_timeline + vt.plot.plot_health_latency"""),
    md("""## Keep the history

Give the monitor a `store=` (a `HistoryStore` or URL: SQLite, or PostgreSQL for several monitors) and every
sample is written in batches by a background writer that survives a store outage. Here the samples we already
have are written at once, then read back with a time filter."""),
    code("""store = vt.store.HistoryStore(f"sqlite:///{workdir / 'health.sqlite'}")
store.write_samples(history)
store.health_history(since="1h", services=["api"]).shape"""),
    md("""## A live dashboard

`vt.widgets.HealthDashboard` takes a monitor, a store or a samples frame. While a monitor runs in the
background, *live refresh* reloads the dashboard every few seconds, and it stops by itself once the monitor
stops. Pick services or targets and a time range on the left."""),
    code("""mon.run(interval_s=0.5, background=True)      # returns at once
dash = vt.widgets.HealthDashboard(mon)
dash.start_live(interval_s=1.0)               # the same as ticking "live refresh"
dash"""),
    code("""import time

time.sleep(3)                                 # let a few ticks come in
final = mon.stop()                            # stops the background run; the dashboard stops following
dash.reload()
print(f"{len(final)} samples in the background run; the dashboard shows {len(dash.history)} samples")"""),
    code("""mon.close()
store.close()
""" + CLEANUP),
])

# ---------------------------------------------------------------------------------------------------------------
write("03-benchmark.ipynb", [
    md("""# 3 · Benchmark: how fast is inference, for which model, at which load?

`vt.bench.run` streams chat completions from the Vultr Serverless Inference API (or any OpenAI-compatible
endpoint) at a given load and records every request and every streamed chunk. From those it computes the usual
serving metrics:

* **TTFT** (`ttft_s`) — time to the first token;
* **TPOT** (`tpot_s`) — mean time per output token after the first, per request;
* **ITL** (`itl_s`) — inter-token latency, weighted per token (from the chunk timings);
* **E2E** (`e2e_s`) — the whole request; and throughput in output tokens/s and requests/s.

Load is either **closed loop** (`concurrency=[1, 4]`: that many users, each sending its next request when the
last one ends) or **open loop** (`rate=[2, 4]`: Poisson arrivals at that many requests/s). The sandbox's model
emulator streams tokens with realistic timings, so the runs below take about half a minute in all.

> With `VULTR_API_KEY` and `VULTR_INFERENCE_API_KEY` set, these cells send real (small) requests to your
> inference subscription, which are billed."""),
    md(SETUP_MD),
    code(setup()),
    md("""## Which models?

`client.inference.models()` lists the endpoint's models with context length, modalities and prices.
Only chat models can be benchmarked."""),
    code("""models = client.inference.models()
models[["id", "context_length", "is_chat", "usd_per_1m_prompt", "usd_per_1m_completion"]]"""),
    code("""chat = vt.widgets.chat_models(models)
model = chat[0]
model"""),
    md("""## A closed-loop run at 1 and 4 users

Eight requests per level, 32 output tokens each. The result keeps the raw truth — `res.requests` (one row per
request), `res.chunks` (one row per streamed chunk) and `res.levels` — and derives everything else from it."""),
    code("""res = vt.bench.run(client, model=model, concurrency=[1, 4], requests=8, max_tokens=32, label="baseline")
res"""),
    code("""res.summary()[["level", "requests", "errors", "ttft_s_p50", "ttft_s_p99", "tpot_s_p50", "itl_s_p99",
               "e2e_s_p50", "output_tokens_per_s", "requests_per_s"]]"""),
    md("""`res.plot()` draws the overview: latency percentiles against load (the band reaches p99), the TTFT
distribution per level, and throughput against load."""),
    code("""res.plot()"""),
    md("""The token-level view: the ECDF of inter-token latencies. A long right tail here means stalls in the
stream that a mean TPOT hides."""),
    code("""vt.plot.plot_itl_ecdf(res.chunks).figure"""),
    md("""## Compare two runs

`vt.bench.compare` lines two runs up per level and metric with the ratio b / a; `plot_compare` draws the ratios
(1 = no change). Here: the same load on a second model."""),
    code("""other = vt.bench.run(client, model=chat[1] if len(chat) > 1 else model, concurrency=[1, 4], requests=8,
                     max_tokens=32, label=chat[1] if len(chat) > 1 else "again")
cmp = vt.bench.compare(res, other, metrics=["ttft_s_p50", "tpot_s_p50", "e2e_s_p50", "output_tokens_per_s"])
vt.plot.plot_compare(cmp).figure"""),
    md("""## From a dashboard

`vt.widgets.BenchmarkRunner` offers the same from controls: the model dropdown comes from `models()`, the load
is concurrency or rate, then the levels, requests per level and `max_tokens`. **Run** shows a progress bar, and
the plot and the summary table update after every level; the finished run is in `.result`. Clicking Run from
code does the same as clicking it:"""),
    code("""runner = vt.widgets.BenchmarkRunner(client, levels="1, 2", requests=4, max_tokens=16)
runner"""),
    code("""runner.controls["mode"].value = "rate"
runner.controls["levels"].value = "2, 8"
runner.controls["run"].click()
runner.result"""),
    md("""## Keep it

A result saves into the history store (SQLite by default) and loads back identical, so runs from different
days or code versions can be compared later."""),
    code("""store = vt.store.HistoryStore(f"sqlite:///{workdir / 'bench.sqlite'}")
run_id = res.save(store)
store.benchmark_runs()"""),
    code("""loaded = vt.bench.BenchmarkResult.load(store, run_id)
pd.testing.assert_frame_equal(loaded.summary(), res.summary())   # the same numbers after the round trip
loaded"""),
    code("""store.close()
""" + CLEANUP),
])

# ---------------------------------------------------------------------------------------------------------------
write("04-report.ipynb", [
    md("""# 4 · Report: everything in one file

`vt.report.build` turns an inventory snapshot, a health history and benchmark results into one report:

* `to_html(path)` — one self-contained HTML file: tables, PNG plots inlined, run metadata (versions, time, the
  configuration with keys shown only as fingerprints); it opens from disk anywhere and holds no secret;
* `to_markdown(path)` — Markdown with the PNGs beside it;
* `to_parquet(dir)` — every frame behind the report, readable with pandas.

This notebook gathers a small version of each data product and writes the report (about 20 seconds)."""),
    md(SETUP_MD),
    code(setup()),
    md("""## Gather the three data products"""),
    code("""snap = client.inventory.snapshot()
mon = vt.HealthMonitor(settings, targets=["inference", "api"], retries_before_down=1)
history = mon.run(interval_s=0.2, count=10)
mon.close()
chat = vt.widgets.chat_models(client.inference.models())
res = vt.bench.run(client, model=chat[0], concurrency=[1, 4], requests=8, max_tokens=24)
snap, len(history), res"""),
    md("""## Build the report

The report renders inline (below), and writes to disk."""),
    code("""rep = vt.report.build(inventory=snap, health=history, benchmark=res, title="Vultr toolkit report",
                      settings=settings)
rep"""),
    code("""html_path = rep.to_html(workdir / "report.html")
md_path = rep.to_markdown(workdir / "report.md")
data_dir = rep.to_parquet(workdir / "report-data")
html = html_path.read_text()
print(html_path, f"{len(html) / 1024:.0f} KiB,", html.count("data:image/png;base64"), "inlined plots")"""),
    md("""The file is safe to share: the API keys the notebook used never appear in it (they are shown as
fingerprints in the metadata)."""),
    code("""secrets = [s.get_secret_value() for s in (settings.api_key, settings.inference_api_key) if s is not None]
assert secrets and not any(s in html for s in secrets)
sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*.parquet"))[:6]"""),
    code(CLEANUP_KEEP),
])
print("ok")
