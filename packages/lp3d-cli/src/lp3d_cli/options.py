"""Command-line options that several commands share (one definition each, with its help text)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "Quiet",
    "Verbose",
    "Debug",
    "Overwrite",
    "Inputs",
    "BatchOut",
    "Calibration",
    "Views",
    "Keypoints",
    "Ensemble",
    "FitFrames",
    "RunDir",
    "Checkpoint",
    "ConfigOverrides",
    "Device",
    "NoProgress",
    "Center",
    "Motion",
    "Variance",
]


class Center(StrEnum):
    """The ensemble centre of the members."""

    median = "median"
    mean = "mean"


class Motion(StrEnum):
    """The smoother's motion prior (lp3d_eks.MOTIONS, with dashes): chosen per keypoint, or fixed."""

    auto = "auto"
    random_walk = "random-walk"
    constant_velocity = "constant-velocity"

    @property
    def smoother_name(self) -> str:
        """The name lp3d_eks gives it ("random walk")."""
        return self.value.replace("-", " ")


class Variance(StrEnum):
    """The ensemble variance: plain, or weighted by the members' likelihoods."""

    var = "var"
    confidence_weighted = "confidence-weighted"


# --- the output options: lp3d_cli.main.command adds them to every command, after its own ------------

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors (no tables, no progress).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Print details: files found, options, timings.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback of an error.")]

# --- writing -----------------------------------------------------------------------------------------

Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output (never done without it).")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")]

# --- predictions: smooth, triangulate, convert ------------------------------------------------------

Inputs = Annotated[
    list[Path],
    typer.Argument(
        metavar="INPUT",
        help="Prediction CSV files, a folder of them, a folder of session folders, or stores (.zarr / .nc).",
        show_default=False,
    ),
]
BatchOut = Annotated[Path, typer.Option("--out", "-o", help="Output folder (one sub-folder per session for a batch).")]
Keypoints = Annotated[
    list[str] | None,
    typer.Option("--keypoints", "-k", help="Keypoints to use; repeat or comma-separate. Default: all."),
]
Ensemble = Annotated[Center, typer.Option("--ensemble", help="Ensemble center of the members.")]
Views = Annotated[
    list[str] | None,
    typer.Option(
        "--views",
        help="View (camera) names as they appear in the prediction files' names; repeat or comma-separate. "
        "Default: the calibration's cameras, else one view.",
    ),
]

# --- cameras and the fixed-lag smoother: triangulate, smooth --lag, live ----------------------------

Calibration = Annotated[Path, typer.Option("--calibration", "-c", help="Anipose calibration.toml of the cameras.")]
FitFrames = Annotated[
    int,
    typer.Option(
        "--fit-frames", min=2, metavar="N", help="Fit the fixed-lag smoother's parameters on the first N frames."
    ),
]

# --- models: train, predict, evaluate, live, pipeline ----------------------------------------------

RunDir = Annotated[Path, typer.Argument(help="A training run directory (lp3d train).", show_default=False)]
Checkpoint = Annotated[str, typer.Option("--checkpoint", help="best or last.")]
ConfigOverrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key, e.g. --set training.lr=1e-4 (repeatable)."),
]
Device = Annotated[str, typer.Option("--device", help="Where models run: auto (a GPU if any), cpu, cuda, cuda:1, ...")]
