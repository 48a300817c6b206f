"""The health sample schema is its own pure-pandas module; the SQL module and the package re-export it."""

from __future__ import annotations

import ast
from pathlib import Path

import vultr_toolkit.store as store_pkg
from vultr_toolkit.store import history, samples


def test_the_sample_schema_module_is_pure_pandas() -> None:
    tree = ast.parse(Path(samples.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 and not n.level}
    assert "sqlalchemy" not in imported and "pandas" in imported
    # ... and the SQL lives elsewhere: the schema module defines no reader or writer
    assert not {"write_samples", "read_samples", "prune_samples"} & set(vars(samples))


def test_old_import_paths_name_the_same_objects() -> None:
    for name in ("SAMPLE_COLUMNS", "SAMPLE_DTYPES", "coerce_samples", "empty_samples", "samples_frame"):
        assert getattr(history, name) is getattr(samples, name), name
        assert getattr(store_pkg, name) is getattr(samples, name), name
    assert set(samples.__all__) <= set(dir(history))
