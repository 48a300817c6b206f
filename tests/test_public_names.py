"""vt's public names report ``vultr_toolkit`` as their module, and its errors survive pickling (Dask, processes).

The module is what ``repr``, ``help()``, tracebacks and pickles show, so it must be the package users import,
not the private module a name happens to live in (``vultr_toolkit._http.retry``, ``vultr_toolkit._errors``).
"""

from __future__ import annotations

import doctest
import inspect
import pickle
import subprocess
import sys
from typing import Any

import pytest

import vultr_toolkit as vt
from vultr_toolkit._http import error_from_response, retry_hint
from vultr_toolkit._http import retry as retry_module
from vultr_toolkit.cache import core as cache_core

PUBLIC = [n for n in vt.__all__ if inspect.isclass(getattr(vt, n)) or inspect.isfunction(getattr(vt, n))]
ERRORS = [getattr(vt, n) for n in PUBLIC if inspect.isclass(getattr(vt, n))
          and issubclass(getattr(vt, n), vt.VultrToolkitError)]


def test_the_public_lists_are_not_empty() -> None:
    assert {"RetryPolicy", "Cache", "CacheStats", "Settings", "APIError", "check_health"} <= set(PUBLIC)
    assert len(ERRORS) >= 20


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_reports_the_package_as_its_module(name: str) -> None:
    obj = getattr(vt, name)
    assert obj.__module__ == "vultr_toolkit"
    if inspect.isclass(obj):
        assert repr(obj) == f"<class 'vultr_toolkit.{name}'>"


def _example(cls: type[vt.VultrToolkitError]) -> vt.VultrToolkitError:
    kw: dict[str, Any] = {}
    if issubclass(cls, vt.APIError):
        kw = {"method": "GET", "path": "/instances", "status": 500, "api_message": "boom"}
    if issubclass(cls, vt.IncompleteListError):
        kw |= {"received": 3, "total": 5, "reason": "page cap", "items": [{"id": "a"}]}
    if issubclass(cls, vt.MissingKeyError):
        kw |= {"key": "instances"}
    if issubclass(cls, vt.RateLimitError):
        kw |= {"retry_after_s": 2.5}
    return cls(f"{cls.__name__} happened", **kw)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_error_pickles_round_trip_with_its_attributes(cls: type[vt.VultrToolkitError]) -> None:
    err = _example(cls)
    data = pickle.dumps(err)
    # The class is pickled by its public name, which unpickling resolves through the package.
    assert b"vultr_toolkit._errors" not in pickle.dumps(cls) and pickle.loads(pickle.dumps(cls)) is cls
    back = pickle.loads(data)
    assert type(back) is cls
    assert str(back) == str(err) and back.args == err.args
    assert vars(back) == vars(err)


def test_a_mapped_error_keeps_its_retry_hint_across_pickle() -> None:
    err = error_from_response("GET", "/regions", 503, {"Retry-After": "4"}, b'{"error": "maintenance"}')
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is vt.ServerError and back.api_message == "maintenance"
    assert retry_hint(back) == retry_hint(err) and retry_hint(back).retry_after_s == 4.0


def test_pickles_unpickle_in_a_fresh_process_through_the_lazy_names() -> None:
    # The receiving process has not touched vt.RetryPolicy or vt.Cache*: unpickling must resolve
    # vultr_toolkit.RetryPolicy through the package's lazy __getattr__.
    objs = [vt.RetryPolicy(attempts=2), vt.CacheStats(hits=3), _example(vt.IncompleteListError)]
    code = ("import pickle, sys\n"
            "for obj in pickle.loads(sys.stdin.buffer.read()):\n"
            "    print(type(obj).__module__, type(obj).__qualname__, getattr(obj, 'attempts', None) or "
            "getattr(obj, 'hits', None) or obj.received)\n")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(objs), capture_output=True, check=True)
    assert out.stdout.decode().split("\n")[:3] == [
        "vultr_toolkit RetryPolicy 2", "vultr_toolkit CacheStats 3", "vultr_toolkit IncompleteListError 3"]


@pytest.mark.parametrize(("module", "name"), [(retry_module, "RetryPolicy"), (cache_core, "Cache")])
def test_doctest_still_finds_the_examples_of_a_renamed_class(module: Any, name: str) -> None:
    getattr(vt, name)  # loaded through vt: its __module__ now says vultr_toolkit
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples and f".{name}" in t.name]
    assert len(tests) >= 2, [t.name for t in doctest.DocTestFinder().find(module)]
