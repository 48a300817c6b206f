"""Settings: env vars, aliases, precedence, validation messages, and no secret in repr/str/errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import vultr_toolkit as vt
from vultr_toolkit._settings import DEFAULT_API_URL, DEFAULT_INFERENCE_URL

CANARY = "sk-CANARY-settings-0001"
ALL_VARS = [
    "VULTR_API_KEY", "VULTR_MANAGEMENT_API_KEY", "VULTR_API_URL", "VULTR_INFERENCE_API_KEY", "VULTR_INFERENCE_URL",
    "VULTR_POSTGRES_URL", "VULTR_VALKEY_URL", "VULTR_TOOLKIT_STORE", "VULTR_TOOLKIT_RATE_LIMIT",
    "VULTR_TOOLKIT_RATE_BURST", "VULTR_TOOLKIT_LIMITER_URL", "VULTR_TOOLKIT_TIMEOUT",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout


def test_defaults() -> None:
    s = vt.Settings()
    assert s.api_url == DEFAULT_API_URL
    assert s.inference_url == DEFAULT_INFERENCE_URL
    assert s.api_key is None and s.postgres_url is None
    assert s.rate_limit == 20.0 and s.rate_burst == 10
    assert s.store_url().startswith("sqlite:///") and s.store_url().endswith("history.sqlite")


def test_env_vars_and_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VULTR_MANAGEMENT_API_KEY", CANARY)
    monkeypatch.setenv("VULTR_API_URL", "http://127.0.0.1:9/v2/")
    monkeypatch.setenv("VULTR_TOOLKIT_RATE_LIMIT", "7.5")
    monkeypatch.setenv("VULTR_TOOLKIT_STORE", "postgresql://app:pw-CANARY-xyz@db.local/hist")
    s = vt.Settings()
    assert s.secret("api_key") == CANARY
    assert s.api_url == "http://127.0.0.1:9/v2"  # trailing slash dropped: paths are joined by the client
    assert s.rate_limit == 7.5
    # bare postgresql:// is pinned to the declared psycopg2 driver
    assert s.store_url() == "postgresql+psycopg2://app:pw-CANARY-xyz@db.local/hist"


def test_primary_name_wins_over_alias_and_kwargs_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VULTR_API_KEY", "sk-from-env-primary")
    monkeypatch.setenv("VULTR_TOOLKIT_RATE_LIMIT", "3")
    s = vt.Settings(rate_limit=11)
    assert s.secret("api_key") == "sk-from-env-primary"
    assert s.rate_limit == 11


def test_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("VULTR_INFERENCE_URL=http://127.0.0.1:5/v1\n")
    assert vt.Settings().inference_url == "http://127.0.0.1:5/v1"


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"api_url": "not a url"}, "VULTR_API_URL"),
        ({"inference_url": "ftp://host/v1"}, "VULTR_INFERENCE_URL"),
        ({"rate_limit": 0}, "VULTR_TOOLKIT_RATE_LIMIT"),
        ({"rate_limit": -3}, "VULTR_TOOLKIT_RATE_LIMIT"),
        ({"store": "mysql://u@h/db"}, "VULTR_TOOLKIT_STORE"),
        ({"postgres_url": "redis://h"}, "VULTR_POSTGRES_URL"),
        ({"valkey_url": "http://h:6379"}, "VULTR_VALKEY_URL"),
        ({"timeout_s": 0}, "VULTR_TOOLKIT_TIMEOUT"),
    ],
)
def test_bad_values_name_the_variable(kwargs: dict[str, object], variable: str) -> None:
    with pytest.raises(vt.ConfigError) as ei:
        vt.Settings(**kwargs)
    assert variable in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VULTR_TOOLKIT_RATE_LIMIT", "fast")
    with pytest.raises(vt.ConfigError, match="VULTR_TOOLKIT_RATE_LIMIT"):
        vt.Settings()


def test_error_message_never_echoes_a_secret() -> None:
    # A store URL with a password and a bad scheme: the message must name the variable but not the password.
    with pytest.raises(vt.ConfigError) as ei:
        vt.Settings(store="mysql://app:pw-CANARY-err@h/db", api_key=CANARY, rate_limit=-1)
    text = str(ei.value) + repr(ei.value)
    assert "VULTR_TOOLKIT_STORE" in text
    assert "pw-CANARY-err" not in text and CANARY not in text


def test_repr_and_str_show_only_fingerprints() -> None:
    s = vt.Settings(api_key=CANARY, inference_api_key="sk-CANARY-inference-0002",
                    postgres_url="postgresql://app:pg-CANARY-pass@db:5432/app",
                    valkey_url="redis://:vk-CANARY-pass@127.0.0.1:6379/0")
    for text in (repr(s), str(s), f"{s!r}", s.model_dump_json()):
        assert "CANARY" not in text, text
    assert "sha256:" in repr(s)
    assert "db:5432" in repr(s)  # the useful, non-secret part of a URL stays visible


def test_same_key_same_fingerprint_different_key_different() -> None:
    a, b, c = vt.Settings(api_key="sk-aaaaaa-1"), vt.Settings(api_key="sk-aaaaaa-1"), vt.Settings(api_key="sk-bbb-22")
    assert repr(a) == repr(b) and repr(a) != repr(c)


def test_blank_env_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VULTR_API_KEY", "  ")
    assert vt.Settings().api_key is None
