"""The in-process limiter's arithmetic on a fake clock (T5, T7) and the registry; server-side checks of the same
limiter over real HTTP are in test_ratelimit_sandbox.py."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vultr_toolkit._errors import ConfigError
from vultr_toolkit._ratelimit import RateLimiter, clear_registry, shared_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def grant_times(lim: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    """Reserve n slots as a caller that sleeps exactly as told would, returning the grant times."""
    out = []
    for _ in range(n):
        wait = lim.reserve()
        assert wait >= 0
        clock.now += wait
        out.append(clock.now)
    return out


def max_in_window(times: list[float], window: float) -> int:
    j = 0
    best = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_burst_then_sustained_rate_and_every_window_capped() -> None:
    """T5: 300 calls at 20/s, burst 10: the first 10 go at once, no 1-s window holds more than 20 (a bare bucket
    would allow 30), and the run takes 300 calls at a little under 20/s (20 per 1.1-s window)."""
    clock = FakeClock()
    lim = RateLimiter(20, 10, clock=clock)
    times = grant_times(lim, clock, 300)
    assert times[:10] == [0.0] * 10
    assert max_in_window(times, 1.0) <= 20
    assert max_in_window(times, 1.0 + lim.margin_s - 1e-9) <= 20
    assert 14.0 <= times[-1] <= 300 / 18.0
    stats = lim.stats()
    assert stats["limiter_grants"] == 300 and 100 < stats["limiter_waits"] < 290 and stats["limiter_wait_s"] > 10


def test_idle_period_restores_the_burst() -> None:
    clock = FakeClock()
    lim = RateLimiter(10, 3, clock=clock)
    grant_times(lim, clock, 30)
    clock.now += 10.0
    assert [lim.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.reserve() > 0


def test_concurrent_reservations_are_spaced_not_simultaneous() -> None:
    """Many callers reserving at the same instant get distinct, increasing slots (no lost updates)."""
    clock = FakeClock()
    lim = RateLimiter(10, 1, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            w = lim.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    waits.sort()
    assert len(waits) == 100 and len(set(round(w, 9) for w in waits)) == 100
    assert max_in_window(waits, 1.0) <= 10


def test_one_limiter_serves_two_event_loops() -> None:
    """T7: the limiter holds no asyncio primitive, so two sequential asyncio.run calls share it."""
    lim = RateLimiter(50, 2)

    async def burst() -> list[float]:
        out = []
        for _ in range(4):
            wait = lim.reserve()
            await asyncio.sleep(wait)
            out.append(wait)
        return out

    first = asyncio.run(burst())
    second = asyncio.run(burst())
    assert first[:2] == [0.0, 0.0] and first[2] > 0
    assert lim.stats()["limiter_grants"] == 8 and len(second) == 4


def test_registry_shares_per_url_and_key() -> None:
    clear_registry()
    a = shared_limiter("http://127.0.0.1:1/v2", "sk-CANARY-reg-000001", rate=20)
    assert shared_limiter("http://127.0.0.1:1/v2/", "sk-CANARY-reg-000001", rate=20) is a
    assert shared_limiter("http://127.0.0.1:1/v2", "sk-CANARY-reg-000002", rate=20) is not a
    assert shared_limiter("http://127.0.0.1:2/v2", "sk-CANARY-reg-000001", rate=20) is not a
    # A later client with another rate reconfigures the shared limiter (last setting wins).
    assert shared_limiter("http://127.0.0.1:1/v2", "sk-CANARY-reg-000001", rate=5, burst=2) is a
    assert (a.rate, a.burst) == (5.0, 2)
    assert "sk-CANARY" not in repr(a)
    clear_registry()


def test_bad_settings_fail_loudly() -> None:
    with pytest.raises(ConfigError, match="VULTR_TOOLKIT_RATE_LIMIT"):
        RateLimiter(0)
    with pytest.raises(ConfigError, match="VULTR_TOOLKIT_RATE_BURST"):
        RateLimiter(5, 0)


def test_confirm_caps_actual_send_times_after_a_late_wake_up() -> None:
    """Reservations are plans: if the first ten requests actually go out late (a busy machine), the eleventh,
    waking on time, must still wait a full window after them."""
    clock = FakeClock()
    lim = RateLimiter(10, 10, window_s=1.0, margin_s=0.1, clock=clock)
    waits = [lim.reserve() for _ in range(11)]
    assert waits[:10] == [0.0] * 10 and waits[10] == pytest.approx(1.1)
    clock.now = 0.5  # the first ten wake up late and send now
    assert [lim.confirm() for _ in range(10)] == [0.0] * 10
    clock.now = 1.1  # the eleventh wakes on time for its plan...
    assert lim.confirm() == pytest.approx(0.5)  # ...but a window after the late ones is 1.6
    clock.now = 1.6
    assert lim.confirm() == 0.0
    assert lim.stats()["limiter_confirm_waits"] == 1
