"""Root conftest: shared fixtures live in tests/plugins/ (servers: PostgreSQL + Valkey; sandbox).

Hypothesis profiles: the test command runs the fuzzers *derandomized* (profile ``ci``, the default), so main
stays green for a reason a reviewer can reproduce; a random run found two real bugs at CI time, which is what
exploring is for, not gating. Explore with fresh random inputs locally::

    VTK_HYPOTHESIS_PROFILE=explore .venv/bin/pytest tests/hardening   # add --hypothesis-seed=N to replay
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("VTK_HYPOTHESIS_PROFILE", "ci"))

pytest_plugins: list[str] = ["tests.plugins.servers", "tests.plugins.sandbox"]
