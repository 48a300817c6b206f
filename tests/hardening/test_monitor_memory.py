"""Found by the soak: a background HealthMonitor kept every sample of its run in an unbounded list.

A monitor started with ``run(background=True)`` and no count runs for weeks; its run samples must be bounded by
``keep`` like the rest of its memory, or RSS grows with every tick (the soak saw ~1 MiB a minute at 1-s ticks).
"""

from __future__ import annotations

import vultr_toolkit as vt
from vultr_toolkit.sandbox import Sandbox


def test_run_samples_are_bounded_by_keep(sandbox_session: Sandbox) -> None:
    with vt.HealthMonitor(sandbox_session.settings(), keep=7) as mon:
        n_per_tick = len(mon.probes) + 1  # + the overall row
        df = mon.run(interval_s=0.01, count=6, progress=False)
        assert mon.stats()["ticks"] == 6
        assert 6 * n_per_tick > 7
        assert len(df) == 7  # the newest `keep` samples of the run, not all 6 * n_per_tick
        assert len(mon.samples()) == 7
