"""Found by fuzzing Settings: values that validated but crashed or leaked later.

* ``VULTR_TOOLKIT_RATE_LIMIT=inf`` (or ``1e308``) and ``VULTR_TOOLKIT_TIMEOUT=inf`` passed validation, then the
  first request raised an untyped ``OverflowError`` deep in the limiter / the timeout arithmetic.
* A ``user:password@`` in ``VULTR_API_URL`` / ``VULTR_INFERENCE_URL`` was shown verbatim by ``repr(Settings)`` and
  ``repr(Client)``; credentials belong in the key variables (sent as a Bearer header), so such URLs are refused.
"""

from __future__ import annotations

import pytest

import vultr_toolkit as vt
from vultr_toolkit.sandbox import Sandbox


@pytest.mark.parametrize(("field", "var", "value"), [
    ("rate_limit", "VULTR_TOOLKIT_RATE_LIMIT", "inf"),
    ("rate_limit", "VULTR_TOOLKIT_RATE_LIMIT", "1e308"),
    ("rate_limit", "VULTR_TOOLKIT_RATE_LIMIT", "nan"),
    ("timeout_s", "VULTR_TOOLKIT_TIMEOUT", "inf"),
    ("timeout_s", "VULTR_TOOLKIT_TIMEOUT", "1e308"),
])
def test_unusable_numbers_are_config_errors(field: str, var: str, value: str) -> None:
    with pytest.raises(vt.ConfigError, match=var):
        vt.Settings(_env_file=None, **{field: value})


@pytest.mark.parametrize(("field", "value"), [("rate_limit", "10000"), ("rate_limit", "0.5"),
                                              ("timeout_s", "86400"), ("timeout_s", "0.5")])
def test_accepted_limits_work_for_a_real_request(sandbox_session: Sandbox, field: str, value: str) -> None:
    with vt.Client(sandbox_session.settings(**{field: value})) as client:
        assert len(client.inventory.regions()) > 0


@pytest.mark.parametrize("var", ["api_url", "inference_url"])
def test_credentials_in_api_urls_are_refused_without_echoing_them(var: str) -> None:
    with pytest.raises(vt.ConfigError) as e:
        vt.Settings(_env_file=None, **{var: "https://user:pwCANARYurl@api.example.test/v2"})
    assert "CANARY" not in str(e.value)
    assert "password" in str(e.value)
