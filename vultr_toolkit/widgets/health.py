"""HealthDashboard: status timeline, latency percentiles, uptime and incidents of a health history, live or not.

The source is a running (or finished) :class:`~vultr_toolkit.HealthMonitor` (its in-memory samples), a
:class:`~vultr_toolkit.store.HistoryStore` (its stored history) or a samples DataFrame. While a monitor runs in
the background, *live* refreshes the dashboard every few seconds from a daemon thread (ipykernel sends widget
updates from any thread) and stops by itself once the monitor has stopped.

Example::

    mon = vt.HealthMonitor(sb.settings()).run(interval_s=1, background=True)
    dash = vt.widgets.HealthDashboard(mon)
    dash                                   # in Jupyter
    dash.start_live()                      # follow the monitor (the same as ticking "live refresh")

The "live refresh" checkbox and the footer's "· live" always tell the real state: :meth:`start_live` ticks the
box, :meth:`stop_live` (or the followed monitor stopping) unticks it, and ticking/unticking it starts/stops.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._ui import Dashboard, figure_png, frame_html, ipywidgets, message_html

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["WINDOWS", "HealthDashboard", "filter_history", "health_figure", "health_summary"]

#: Time-range choices: (label, pandas duration or None for everything).
WINDOWS: tuple[tuple[str, str | None], ...] = (
    ("all", None), ("last 1 min", "1min"), ("last 5 min", "5min"), ("last 1 h", "1h"), ("last 24 h", "24h"),
    ("last 7 days", "7D"),
)


def filter_history(history: pd.DataFrame, *, services: Iterable[str] = (), targets: Iterable[str] = (),
                   window: str | None = None, end: Any = None, overall: bool = True) -> pd.DataFrame:
    """Samples of the chosen services and targets (empty: all) within ``window`` (a duration such as ``"1h"``)
    before ``end`` (default: the newest sample, so a stored history is not empty just because it is old).
    ``overall=False`` drops the monitor's ``overall`` rows. Dtypes are kept.

    >>> h = vt.HealthMonitor(sb.settings()).run(interval_s=0.05, count=3)
    >>> filter_history(h, services=["api"], window="5min", overall=False)["service"].unique().tolist()
    ['api']
    """
    keep = pd.Series(True, index=history.index)
    svc = history["service"].astype(str)
    if set(services):
        keep &= svc.isin(set(services)) | (svc == "overall") if overall else svc.isin(set(services))
    if set(targets):
        keep &= history["target"].astype(str).isin(set(targets)) | (svc == "overall")
    if not overall:
        keep &= svc != "overall"
    if window is not None and len(history):
        stop = history["checked_at"].max() if end is None else pd.Timestamp(end)
        stop = stop.tz_localize("UTC") if stop.tzinfo is None else stop
        keep &= history["checked_at"] > stop - pd.Timedelta(window)
    return history[keep.to_numpy(dtype=bool)].reset_index(drop=True)


def health_figure(history: pd.DataFrame, *, freq: str | None = None) -> Figure:
    """Two panels: :func:`~vultr_toolkit.plot.plot_health_timeline` over
    :func:`~vultr_toolkit.plot.plot_health_latency` (shared time axis).

    >>> fig = health_figure(monitor.samples())
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure

    from ..plot import plot_health_latency, plot_health_timeline

    fig = Figure(figsize=(12, 6.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    plot_health_timeline(history, ax=top)
    plot_health_latency(history, ax=bottom, freq=freq)
    top.set_xlabel("")  # the shared time axis is labelled once, at the bottom
    return fig


def health_summary(history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, incidents)``: :func:`vultr_toolkit.health.summarize` per target and
    :func:`vultr_toolkit.health.incidents`, newest incident first.

    >>> summary, inc = health_summary(monitor.samples())
    >>> summary["service"].tolist(), inc["service"].tolist()
    (['api', 'inference', 'overall'], [...])
    """
    from ..health import incidents, summarize

    inc = incidents(history)
    return summarize(history), inc.sort_values("start_at", ascending=False, ignore_index=True)


def _load(source: Any, window: str | None) -> pd.DataFrame:
    from ..health import HealthMonitor
    from ..store import HistoryStore

    if isinstance(source, HealthMonitor):
        return source.samples()
    if isinstance(source, HistoryStore):
        return source.health_history(since=window)
    if isinstance(source, pd.DataFrame):
        return source
    raise TypeError(f"HealthDashboard needs a HealthMonitor, a HistoryStore or a samples DataFrame, "
                    f"got {type(source).__name__}")


class HealthDashboard(Dashboard):
    """Health dashboard: service/target selection, time range, refresh and live refresh.

    ``source``: a :class:`~vultr_toolkit.HealthMonitor`, a :class:`~vultr_toolkit.store.HistoryStore` or a
    samples DataFrame. State: ``.history`` (everything loaded), ``.frame`` (the samples shown), ``.summary``,
    ``.incidents``, ``.figure``, ``.refreshes`` (a counter) and ``.controls`` (``services``, ``targets``,
    ``window``, ``overall``, ``refresh``, ``live``, ``interval_s``).

    >>> dash = HealthDashboard(monitor); dash.controls["window"].value = "5min"
    >>> dash.summary["service"].tolist()
    ['api', 'inference', 'overall']
    """

    def __init__(self, source: Any, *, interval_s: float = 2.0) -> None:
        w = ipywidgets()
        self.source = source
        self.history = _load(source, None)
        self.refreshes = 0
        self._live_stop = threading.Event()
        self._live_thread: threading.Thread | None = None
        self._lock = threading.RLock()
        # Guards swapping the live thread only; never held while joining it (its reload takes self._lock).
        self._live_lock = threading.Lock()
        self._footer = ""
        self.controls: dict[str, Any] = {
            "services": w.SelectMultiple(description="services", rows=5),
            "targets": w.SelectMultiple(description="targets", rows=5),
            "window": w.Dropdown(options=list(WINDOWS), value=None, description="time range"),
            "overall": w.Checkbox(value=True, description="overall row", indent=False),
            "refresh": w.Button(description="Refresh", icon="refresh"),
            "live": w.Checkbox(value=False, description="live refresh", indent=False),
            "interval_s": w.BoundedFloatText(value=interval_s, min=0.2, max=3600, step=0.5,
                                             description="every (s)"),
        }
        self._set_options()
        for name in ("services", "targets", "window", "overall"):
            self.controls[name].observe(self._on_change, names="value")
        self.controls["refresh"].on_click(self._on_refresh)
        self.controls["live"].observe(self._on_live, names="value")
        self.header = w.HTML(f"<h3 style='margin:0'>Health</h3><span style='color:#666'>"
                             f"{html.escape(type(source).__name__)}</span>")
        self.chart = w.Image(format="png", layout=w.Layout(width="100%"))
        self.table = w.HTML()
        self.status = w.HTML()
        self.frame = self.history
        self.summary = pd.DataFrame()
        self.incidents = pd.DataFrame()
        self.figure: Figure | None = None
        c = self.controls
        self.widget = w.AppLayout(
            header=self.header,
            left_sidebar=w.VBox([c["services"], c["targets"], c["window"], c["overall"], c["refresh"],
                                 w.HBox([c["live"]]), c["interval_s"]]),
            center=w.VBox([self.chart, self.table]), footer=self.status,
            pane_widths=["300px", 1, 0], pane_heights=["60px", 1, "30px"],
        )
        self.update()

    # --- data -------------------------------------------------------------------------------------------------
    def _set_options(self) -> None:
        """Offer every service/target in the history, keeping the current selection where it still exists."""
        h = self.history
        services = sorted(set(h["service"].astype(str)) - {"overall"})
        chosen = self.controls["services"].value
        pairs = h[["service", "target"]].astype(str).drop_duplicates()
        pairs = pairs[pairs["service"] != "overall"]
        if chosen:
            pairs = pairs[pairs["service"].isin(set(chosen))]
        targets = [(f"{s}: {t}", t) for s, t in sorted(pairs.itertuples(index=False, name=None))]
        if list(self.controls["services"].options) != services:
            self.controls["services"].options = services
            self.controls["services"].value = tuple(v for v in chosen if v in services)
        if list(self.controls["targets"].options) != targets:
            keep = tuple(v for v in self.controls["targets"].value if v in {t for _, t in targets})
            self.controls["targets"].options = targets
            self.controls["targets"].value = keep

    def reload(self) -> None:
        """Fetch the source's samples again (a monitor's latest, a store's stored history), then update."""
        with self._lock:
            self.history = _load(self.source, self.controls["window"].value)
            self._set_options()
            self.refreshes += 1
            self.update()

    def update(self) -> None:
        """Re-filter and re-render the loaded history from the controls' current values."""
        with self._lock:
            c = self.controls
            self.frame = filter_history(self.history, services=c["services"].value, targets=c["targets"].value,
                                        window=c["window"].value, overall=c["overall"].value)
            self.summary, self.incidents = health_summary(self.frame)
            self.figure = health_figure(self.frame)
            self.chart.value = figure_png(self.figure)
            parts = ["<h4>Uptime and latency per target</h4>", frame_html(self.summary, height_px=220)]
            if len(self.incidents):
                parts += [f"<h4>Incidents ({len(self.incidents)})</h4>", frame_html(self.incidents, height_px=220)]
            self.table.value = "".join(parts)
            if not len(self.frame):
                self._show_footer(message_html("no samples in this selection"))
                return
            down = int((self.frame["status"].astype(str) == "down").sum())
            last = self.frame["checked_at"].max()
            self._show_footer(f"<b>{len(self.frame):,}</b> samples · {down:,} down · {len(self.incidents)} "
                              f"incident(s) · newest {html.escape(last.isoformat(timespec='seconds'))}")

    def _show_footer(self, text: str | None = None) -> None:
        """Footer = ``text`` (default: the last one) plus " · live" exactly while live refresh runs."""
        with self._lock:
            if text is not None:
                self._footer = text
            self.status.value = f"{self._footer}{' · live' if self.live else ''}"

    # --- events -----------------------------------------------------------------------------------------------
    def _on_change(self, change: Any = None) -> None:
        if change is not None and getattr(change, "owner", None) is self.controls["services"]:
            self._set_options()
        self.update()

    def _on_refresh(self, _button: Any = None) -> None:
        self.reload()

    def _on_live(self, change: Any) -> None:
        # Act only when the box disagrees with the real state: start_live/stop_live tick/untick it themselves,
        # and that must not start or stop anything again.
        if change["new"] and not self.live:
            self.start_live()
        elif not change["new"] and self.live:
            self.stop_live()

    # --- live refresh -----------------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """True while live refresh runs (its thread is alive and has not been told to stop)."""
        thread = self._live_thread
        return thread is not None and thread.is_alive() and not self._live_stop.is_set()

    def start_live(self, interval_s: float | None = None) -> None:
        """Reload every ``interval_s`` (default: the control's value) in a daemon thread until :meth:`stop_live`,
        or until the monitor being followed stops (one last reload catches its final samples). Ticks the
        "live refresh" box and marks the footer "· live".

        >>> dash = HealthDashboard(monitor)
        >>> dash.start_live(interval_s=1.0); dash.controls["live"].value, dash.live
        (True, True)
        >>> dash.stop_live(); dash.controls["live"].value, dash.live
        (False, False)
        """
        if interval_s is not None:
            self.controls["interval_s"].value = interval_s
        with self._live_lock:
            if not self.live:
                # A fresh event per thread: a thread still finishing never sees (or clears) the next one's.
                stop = threading.Event()
                thread = threading.Thread(target=self._live_loop, args=(stop,), name="vtk-health-dashboard",
                                          daemon=True)
                self._live_stop, self._live_thread = stop, thread
                thread.start()
        self._show_live()

    def stop_live(self) -> None:
        """Stop live refresh (waits for a reload in progress); unticks the box and drops "· live"."""
        with self._live_lock:
            self._live_stop.set()
            thread, self._live_thread = self._live_thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self._show_live()

    def _show_live(self) -> None:
        """Make the checkbox and the footer say whether live refresh runs (the box's observer then sees no
        disagreement, so setting it here starts or stops nothing)."""
        live = self.live
        if self.controls["live"].value != live:
            self.controls["live"].value = live
        self._show_footer()

    def _live_loop(self, stop: threading.Event) -> None:
        while not stop.wait(float(self.controls["interval_s"].value)):
            # Read "stopped" *before* reloading: a reload that starts after the monitor stopped sees its final
            # samples, whereas one that started while it ran may miss the last tick.
            finished = getattr(self.source, "running", True) is False
            try:
                self.reload()
            except Exception as e:  # keep the dashboard alive; show what went wrong
                self._show_footer(message_html(f"refresh failed: {type(e).__name__}: {e}", error=True))
            if finished:
                break
        with self._live_lock:
            stop.set()
            current = self._live_thread is threading.current_thread()
            if current:
                self._live_thread = None
        if current:  # a stop_live() or a newer thread has already said what is true otherwise
            self._show_live()
