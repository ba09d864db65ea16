"""The pipeline's report: the stage table (``stages.csv``), a smoothing report per session, and
``report.html`` linking them."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from lp3d_io.files import staged_directory

from lp3d_workflows.html_page import html_page, html_table

if TYPE_CHECKING:
    from lp3d_models.evaluation import Score

__all__ = ["score_table", "write_pipeline_report"]


def _fmt(x: float) -> str:
    return "—" if not np.isfinite(x) else f"{x:.2f}"


def score_table(scores: Sequence[Score]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the stage table (strings); with several animals an ``individual`` column
    and the identity swaps (share of the scored frames and views) in each stage's ``all`` row."""
    several = any(s.individual for s in scores)
    header = ["stage", *(["individual"] if several else []), "mean (px)", "median (px)", "positions"]
    world = any(np.isfinite(s.world_mean) for s in scores)
    if world:
        header.append("3D mean (world)")
    if several:
        header.append("identity swaps")
    rows = []
    for s in scores:
        row = [s.name, *([s.individual] if several else []), _fmt(s.pixel_mean), _fmt(s.pixel_median), str(s.n)]
        if world:
            row.append(_fmt(s.world_mean))
        if several:
            row.append("" if not np.isfinite(s.swap_rate) else f"{100 * s.swap_rate:.1f}%")
        rows.append(row)
    return header, rows


_HELD_OUT = {
    "test": "test split",
    "val": "validation split (there are no test frames; these chose the checkpoints, so they flatter the models)",
    "": "held-out frames (there are none)",
}


_SEVERAL = (
    "<p class='note'>Several animals: each stage has a row per animal and one over all of them. Identity swaps: "
    "the share of scored frames and views where giving one animal's positions to another would match the labels "
    "better (the stage followed the wrong animal there).</p>"
)


def write_pipeline_report(
    root: Path,
    scores: Sequence[Score],
    sessions: Sequence[str],
    seconds: dict[str, float],
    *,
    distilled: bool = True,
    title: str = "lp3d pipeline",
    held_out: str = "test",
) -> Path:
    """Writes ``report/``: ``stages.csv``, a smoothing report per session and ``report.html``;
    ``held_out`` says which labeled frames were scored (``"test"``, ``"val"``, ``""``: none)."""
    from lp3d_workflows.report import load_report_data, write_report

    final = root / ("student_smoothed" if distilled else "smoothed")
    header, rows = score_table(scores)
    with staged_directory(root / "report") as tmp:
        with open(tmp / "stages.csv", "w") as f:
            f.write(",".join(header) + "\n")
            f.writelines(",".join(r) + "\n" for r in rows)
        links = []
        for session in sessions:
            (tmp / session).mkdir()
            data = load_report_data(final / session / f"{session}.zarr")
            write_report(data, tmp / session, title=f"{title}: session {session}, final smoothed tracks")
            links.append(f"<li><a href='{html.escape(session)}/report.html'>{html.escape(session)}</a></li>")
        selection = root / "student" / "pseudo_labels" / "selection.csv"
        chosen = ""
        if distilled and selection.is_file():
            n = len(selection.read_text().splitlines()) - 1
            chosen = (
                f"<p>{n} frames pseudo-labeled (confident and diverse, see "
                f"<code>{html.escape(str(selection.parent))}</code>: images, labels, weights).</p>"
            )
        timing = [[name, f"{s:.1f}"] for name, s in seconds.items()]
        parts = [
            f"<p class='note'>{html.escape(str(root))}</p>",
            "<h2>Stages on the held-out labeled frames</h2>",
            "<p class='note'>Error of each stage's 2D positions against the labels of the "
            + _HELD_OUT[held_out]
            + ", in the views' pixels; with a calibration, the 3D error against the triangulated labels. EKS: the "
            "ensemble Kalman smoother over the whole videos.</p>",
            html_table(header, rows) if rows else "<p>Nothing scored: the split holds out no labeled frame.</p>",
            _SEVERAL if any(s.individual for s in scores) else "",
            chosen,
            "<h2>Smoothing reports</h2><ul>" + "".join(links) + "</ul>",
        ]
        if timing:
            parts += ["<h2>Stages run this time</h2>", html_table(["stage", "seconds"], timing)]
        (tmp / "report.html").write_text(html_page(title, parts), encoding="utf-8")
    return root / "report" / "report.html"
