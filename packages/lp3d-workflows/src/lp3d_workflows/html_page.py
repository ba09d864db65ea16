"""Self-contained HTML pages (the smoothing and pipeline reports): one stylesheet, tables, embedded images."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

__all__ = ["html_page", "html_table", "embedded_image"]

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; } .note { color: #666; font-size: 0.9em; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; } dt { font-weight: bold; }
"""


def html_page(title: str, body: Sequence[str]) -> str:
    """A whole page: ``title`` as its title and first heading, then the ``body`` fragments (HTML)."""
    head = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
    return "\n".join(
        [head, f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>", *body, "</body></html>"]
    )


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of text cells (escaped)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def embedded_image(path: Path, alt: str) -> str:
    """A PNG file embedded in the page (a data URL), so the page stands alone."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
