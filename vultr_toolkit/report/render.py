"""Rendering a :class:`~vultr_toolkit.report.model.Report` to HTML (jinja2 template) and Markdown.

Secrets: the data products are secret-free by construction; as a second line of defence the rendered text runs
through :func:`vultr_toolkit._redact.redact` *before* the images are put in, so the mask can never touch (or be
fooled by) the base64 payload.

Example::

    >>> from vultr_toolkit.report.render import markdown_table
    >>> import pandas as pd
    >>> print(markdown_table(pd.DataFrame({"a": [1], "b": ["x|y"]})))
    | a | b |
    |---:|---|
    | 1 | x\\|y |
"""

from __future__ import annotations

import base64
import html
import importlib.resources
import json
import math
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._redact import redact

if TYPE_CHECKING:  # pragma: no cover
    from .model import Report, Table

__all__ = ["markdown_table", "render_html", "render_markdown"]

_TEMPLATE = "report.html.j2"


def _cell(v: Any) -> str:
    if v is None or v is pd.NA or v is pd.NaT:
        return "—"
    if isinstance(v, float):
        return "—" if math.isnan(v) else f"{v:,.6g}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, list | dict):
        return json.dumps(v, default=str)
    return str(v)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured pipe table (numbers right-aligned, ``|`` escaped, missing values as ``—``)."""
    cols = [str(c) for c in df.columns]
    head = "| " + " | ".join(cols) + " |"
    rule = "|" + "|".join("---:" if _is_numeric(df[c]) else "---" for c in df.columns) + "|"
    rows = ["| " + " | ".join(_cell(v).replace("|", "\\|").replace("\n", " ") for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _table_html(t: Table) -> str:
    # Cells go through _cell so HTML and Markdown show identical values; pandas escapes them.
    shown = t.frame.astype(object).map(_cell) if len(t.frame) else t.frame
    numeric = {str(c) for c in t.frame.columns if _is_numeric(t.frame[c])}
    out: str = shown.to_html(index=False, escape=True, border=0, classes="vt-table", na_rep="—")
    for c in numeric:  # right-align numeric columns by header name (one CSS rule per table is enough here)
        out = out.replace(f"<th>{html.escape(c)}</th>", f"<th class='num'>{html.escape(c)}</th>", 1)
    return out


def _environment() -> Any:
    import jinja2

    # Templates ship as package data, so they load the same from a wheel, an sdist or an editable install.
    text = importlib.resources.files("vultr_toolkit.report").joinpath("templates", _TEMPLATE).read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    return env.from_string(text)


def render_html(report: Report, *, fragment: bool = False) -> str:
    """The report as an HTML document (``fragment=True``: one ``<div>`` for Jupyter)."""
    from markupsafe import Markup

    token = secrets.token_hex(8)
    images: dict[str, str] = {}
    sections = []
    for s in report.sections:
        pics = []
        for p in s.pictures:
            if p.png is None:
                pics.append({"caption": p.caption, "src": None, "note": p.note})
                continue
            key = f"vt-img-{token}-{len(images)}"
            images[key] = "data:image/png;base64," + base64.b64encode(p.png).decode("ascii")
            pics.append({"caption": p.caption, "src": key, "note": None})
        tables = [{"caption": t.caption, "html": Markup(_table_html(t)), "shown": len(t.frame), "total": t.total_rows}
                  for t in s.tables]
        sections.append({"key": s.key, "title": s.title, "intro": s.intro, "facts": s.facts, "tables": tables,
                         "pictures": pics})
    meta = dict(report.metadata)
    settings = meta.pop("settings", None)
    packages = meta.pop("packages", {})
    text = _environment().render(title=report.title, sections=sections, meta=meta, settings=settings,
                                 packages=packages, fragment=fragment)
    text = redact(text)
    for key, uri in images.items():
        text = text.replace(key, uri)
    return text


def render_markdown(report: Report, *, image_dir: Path | None, relative_to: Path) -> str:
    """Markdown text; images are written into ``image_dir`` (linked relative to ``relative_to``) or inlined."""
    lines = [f"# {report.title}", ""]
    n = 0
    for s in report.sections:
        lines += [f"## {s.title}", "", s.intro, ""]
        lines += [f"- **{k}**: {v}" for k, v in s.facts] + [""]
        for t in s.tables:
            more = f" (first {len(t.frame)} of {t.total_rows} rows)" if t.total_rows > len(t.frame) else ""
            lines += [f"### {t.caption}{more}", "", markdown_table(t.frame) if len(t.frame) else "_no rows_", ""]
        for p in s.pictures:
            if p.png is None:
                lines += [f"_{p.caption}: {p.note}_", ""]
                continue
            n += 1
            if image_dir is None:
                src = "data:image/png;base64," + base64.b64encode(p.png).decode("ascii")
            else:
                image_dir.mkdir(parents=True, exist_ok=True)
                f = image_dir / f"{s.key}-{n:02d}.png"
                f.write_bytes(p.png)
                src = f.relative_to(relative_to).as_posix()
            lines += [f"![{p.caption}]({src})", ""]
    meta = dict(report.metadata)
    lines += ["## Run metadata", "", "```json", json.dumps(meta, indent=2, default=str), "```", ""]
    return redact("\n".join(lines)) if image_dir is not None else _redact_keep_images(lines)


def _redact_keep_images(lines: list[str]) -> str:
    # Inline images: redact every line except the data URIs themselves.
    return "\n".join(line if line.startswith("![") and "data:image/png;base64," in line else redact(line)
                     for line in lines)
