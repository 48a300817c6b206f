"""Settings: every environment variable of the toolkit, in one place.

Precedence: explicit keyword argument > environment / ``.env`` file > default. Field names are the variable names
without their ``VULTR_`` / ``VULTR_TOOLKIT_`` prefix.

=========================== ======================= =============================================
variable                    field                   default
=========================== ======================= =============================================
VULTR_API_KEY (or           api_key                 unset (public catalogue routes still work)
VULTR_MANAGEMENT_API_KEY)
VULTR_API_URL               api_url                 https://api.vultr.com/v2
VULTR_INFERENCE_API_KEY     inference_api_key       unset
VULTR_INFERENCE_URL         inference_url           https://api.vultrinference.com/v1
VULTR_POSTGRES_URL          postgres_url            unset (the PostgreSQL probe is skipped)
VULTR_VALKEY_URL            valkey_url              unset (the Valkey probe is skipped)
VULTR_TOOLKIT_STORE         store                   SQLite file in the user data directory
VULTR_TOOLKIT_RATE_LIMIT    rate_limit              20 requests/s (Vultr allows 30/s per source IP)
VULTR_TOOLKIT_RATE_BURST    rate_burst              10
VULTR_TOOLKIT_LIMITER_URL   limiter_url             unset; a redis:// or valkey:// URL shares one
                                                    rate budget between processes and kernels
VULTR_TOOLKIT_TIMEOUT       timeout_s               30 s
=========================== ======================= =============================================

Secrets (keys and every URL that may hold a password) are :class:`pydantic.SecretStr`; ``repr``/``str`` show a
fingerprint, never the value. Bad values fail at construction with :class:`ConfigError` naming the variable.

Example::

    >>> s = Settings(api_key="sk-example-000000", api_url="http://127.0.0.1:8080/v2")
    >>> s.api_url
    'http://127.0.0.1:8080/v2'
    >>> "sk-example" in repr(s)
    False
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._errors import ConfigError
from ._redact import check_url_userinfo, fingerprint, redact_url, register_secret, register_url_passwords

__all__ = ["Settings", "default_store_url", "normalize_db_url"]

DEFAULT_API_URL = "https://api.vultr.com/v2"
DEFAULT_INFERENCE_URL = "https://api.vultrinference.com/v1"

MAX_RATE_LIMIT = 10_000.0
MAX_TIMEOUT_S = 86_400.0

_STORE_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg2", "postgres")
_VALKEY_SCHEMES = ("redis", "rediss", "valkey", "valkeys", "unix")


def _env(*names: str) -> Any:
    return AliasChoices(*names)


def default_store_url() -> str:
    """The default history store: a SQLite file in the user data directory (created on first use)."""
    import platformdirs

    d = Path(platformdirs.user_data_dir("vultr-toolkit", appauthor=False))
    return f"sqlite:///{d / 'history.sqlite'}"


def normalize_db_url(url: str) -> str:
    """Pin PostgreSQL URLs to the psycopg2 driver the toolkit declares.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which we do not depend on.

    >>> normalize_db_url("postgresql://u@h/db")
    'postgresql+psycopg2://u@h/db'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _check_http_url(value: str, var: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{var} must be an http(s) URL such as https://host/path, got a value with scheme "
                         f"{parts.scheme or 'none'!r}")
    if parts.username is not None or parts.password is not None:
        # A plain-str field would show it in every repr; keys go in the *_API_KEY variables (a Bearer header).
        raise ValueError(f"{var} must not contain a user name or password; put the key in the matching "
                         "*_API_KEY variable")
    return value.rstrip("/")


class Settings(BaseSettings):
    """Configuration of the toolkit; see the module docstring for every variable.

    >>> Settings(rate_limit=5).rate_limit
    5.0
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
        validate_default=True,
    )

    api_key: SecretStr | None = Field(None, validation_alias=_env("api_key", "VULTR_API_KEY",
                                                                  "VULTR_MANAGEMENT_API_KEY"))
    api_url: str = Field(DEFAULT_API_URL, validation_alias=_env("api_url", "VULTR_API_URL"))
    inference_api_key: SecretStr | None = Field(None, validation_alias=_env("inference_api_key",
                                                                            "VULTR_INFERENCE_API_KEY"))
    inference_url: str = Field(DEFAULT_INFERENCE_URL, validation_alias=_env("inference_url", "VULTR_INFERENCE_URL"))
    postgres_url: SecretStr | None = Field(None, validation_alias=_env("postgres_url", "VULTR_POSTGRES_URL"))
    valkey_url: SecretStr | None = Field(None, validation_alias=_env("valkey_url", "VULTR_VALKEY_URL"))
    store: SecretStr | None = Field(None, validation_alias=_env("store", "VULTR_TOOLKIT_STORE"))
    rate_limit: float = Field(20.0, validation_alias=_env("rate_limit", "VULTR_TOOLKIT_RATE_LIMIT"))
    rate_burst: int = Field(10, validation_alias=_env("rate_burst", "VULTR_TOOLKIT_RATE_BURST"))
    limiter_url: SecretStr | None = Field(None, validation_alias=_env("limiter_url", "VULTR_TOOLKIT_LIMITER_URL"))
    timeout_s: float = Field(30.0, validation_alias=_env("timeout_s", "VULTR_TOOLKIT_TIMEOUT"))

    # field -> the environment variable users know it by (used in error messages)
    ENV_NAMES: ClassVar[dict[str, str]] = {
        "api_key": "VULTR_API_KEY",
        "api_url": "VULTR_API_URL",
        "inference_api_key": "VULTR_INFERENCE_API_KEY",
        "inference_url": "VULTR_INFERENCE_URL",
        "postgres_url": "VULTR_POSTGRES_URL",
        "valkey_url": "VULTR_VALKEY_URL",
        "store": "VULTR_TOOLKIT_STORE",
        "rate_limit": "VULTR_TOOLKIT_RATE_LIMIT",
        "rate_burst": "VULTR_TOOLKIT_RATE_BURST",
        "limiter_url": "VULTR_TOOLKIT_LIMITER_URL",
        "timeout_s": "VULTR_TOOLKIT_TIMEOUT",
    }

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as e:
            # Rebuild the message without input values: they may be secrets.
            lines = []
            for err in e.errors(include_input=False, include_url=False):
                field = str(err["loc"][0]) if err["loc"] else "?"
                var = self.ENV_NAMES.get(field, field)
                msg = str(err["msg"]).removeprefix("Value error, ")
                lines.append(f"{var} ({field}): {msg}")
            raise ConfigError("invalid vultr_toolkit settings:\n  " + "\n  ".join(lines)) from None
        for key in (self.api_key, self.inference_api_key):
            if key is not None:
                register_secret(key.get_secret_value())
        for url in (self.postgres_url, self.valkey_url, self.store, self.limiter_url):
            if url is not None:
                register_url_passwords(url.get_secret_value())

    # --- validators -------------------------------------------------------------------------------------------
    @field_validator("api_key", "inference_api_key", "postgres_url", "valkey_url", "store", "limiter_url",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        return v

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        return _check_http_url(v, "VULTR_API_URL")

    @field_validator("inference_url")
    @classmethod
    def _inference_url(cls, v: str) -> str:
        return _check_http_url(v, "VULTR_INFERENCE_URL")

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, v: float) -> float:
        # Bounded: inf or 1e308 validated once and then overflowed inside the limiter on the first request.
        if not 0 < v <= MAX_RATE_LIMIT:
            raise ValueError(f"must be a positive number of requests per second up to {MAX_RATE_LIMIT:g}, e.g. 20")
        return float(v)

    @field_validator("rate_burst")
    @classmethod
    def _burst(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    @field_validator("timeout_s")
    @classmethod
    def _timeout(cls, v: float) -> float:
        if not 0 < v <= MAX_TIMEOUT_S:  # inf overflowed the deadline arithmetic on the first request
            raise ValueError(f"must be a positive number of seconds up to {MAX_TIMEOUT_S:g}")
        return v

    @field_validator("store")
    @classmethod
    def _store(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        raw = check_url_userinfo(v.get_secret_value())
        scheme = urlsplit(raw).scheme
        if scheme not in _STORE_SCHEMES:
            raise ValueError(f"unknown store scheme {scheme or 'none'!r}; use sqlite:///path/to/file.sqlite or "
                             "postgresql://user@host/db")
        return SecretStr(normalize_db_url(raw))

    @field_validator("postgres_url")
    @classmethod
    def _postgres(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        raw = check_url_userinfo(v.get_secret_value())
        parts = urlsplit(raw)
        if not parts.scheme.startswith("postgres") or not (parts.hostname or "host=" in parts.query):
            raise ValueError("must be a PostgreSQL URL such as postgresql://user:password@host:5432/dbname")
        return SecretStr(normalize_db_url(raw))

    @field_validator("valkey_url", "limiter_url")
    @classmethod
    def _valkey(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        parts = urlsplit(check_url_userinfo(v.get_secret_value()))
        if parts.scheme not in _VALKEY_SCHEMES:
            raise ValueError("must be a redis://, rediss:// or valkey:// URL such as redis://127.0.0.1:6379/0")
        return v

    # --- convenience ------------------------------------------------------------------------------------------
    def store_url(self) -> str:
        """The history store URL to connect to (the SQLite default when unset). Holds a password if you gave one."""
        return self.store.get_secret_value() if self.store is not None else default_store_url()

    def secret(self, name: str) -> str | None:
        """The plain value of a secret field, or None (``s.secret("api_key")``)."""
        value = getattr(self, name)
        if value is None:
            return None
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def _display(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                shown = "None"
            elif name in ("api_key", "inference_api_key"):
                shown = f"<{fingerprint(value.get_secret_value())}>"
            elif isinstance(value, SecretStr):
                shown = repr(redact_url(value.get_secret_value()))
            else:
                shown = repr(value)
            out.append((name, shown))
        return out

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{k}={v}" for k, v in self._display()) + ")"

    __str__ = __repr__

    def __repr_args__(self) -> Any:  # pydantic's rich/pretty printers
        return self._display()
