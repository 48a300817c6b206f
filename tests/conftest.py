"""Root conftest: shared fixtures live in tests/plugins/ (servers: PostgreSQL + Valkey; sandbox)."""

pytest_plugins: list[str] = ["tests.plugins.servers", "tests.plugins.sandbox"]
