"""The ``lp3d train / predict / evaluate / init`` commands (a typer app; lp3d-cli mounts it with
``app.add_typer(lp3d_models.commands.app)``). The work is in the modules they call; errors are
``ValueError`` / ``OSError`` with one-line messages for the CLI to print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Train and run multi-view pose models.")

_Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")]
_Device = Annotated[str, typer.Option("--device", help="auto (a GPU if any), cpu, cuda, cuda:1, ...")]
_NoProgress = Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar.")]


def _seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise ValueError(f"--seeds: expected comma-separated integers (e.g. 0,1,2), but got {text!r}") from None


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="The YAML config (write one with `lp3d init DIR`).")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: --set training.lr=1e-4 (repeatable).")
    ] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Ensemble members to train, e.g. 0,1,2 (default training.seeds).")
    ] = None,
    pretrained: Annotated[
        str | None, typer.Option("--pretrained", help="Backbone weights file (or true/false), as model.pretrained.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue members from their last checkpoint.")] = False,
    overwrite: _Overwrite = False,
    no_progress: _NoProgress = False,
) -> None:
    """Train a multi-view pose model (one per seed: an ensemble) on a project's labeled frames."""
    from lp3d_models.config import load_config
    from lp3d_models.training import train as run_training

    overrides = list(set_ or [])
    if pretrained is not None:  # a file is relative to the working folder, unlike paths in the config
        is_flag = pretrained.lower() in ("true", "false")
        overrides.append(f"model.pretrained={pretrained.lower() if is_flag else Path(pretrained).resolve()}")
    if no_progress:
        overrides.append("training.progress_bar=false")
    result = run_training(load_config(config, overrides), _seeds(seeds), resume=resume, overwrite=overwrite)
    for member, error in zip(result.members, result.best_val_error, strict=True):
        typer.echo(f"{member.name}: best validation error {error:.2f} px")
    typer.echo(f"run: {result.run_dir}")


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A training run directory.")],
    videos: Annotated[list[Path], typer.Argument(help="One video per view; file names contain the view names.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The zarr store to write (created if missing).")],
    group: Annotated[str | None, typer.Option(help="Predictions group (default predictions/<run name>).")] = None,
    csv_dir: Annotated[Path | None, typer.Option(help="CSV folder (default <store>_csv beside the store).")] = None,
    batch_size: Annotated[int, typer.Option(help="Frames per batch.")] = 16,
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    shortest: Annotated[bool, typer.Option(help="Stop at the shortest video instead of failing.")] = False,
    device: _Device = "auto",
    overwrite: _Overwrite = False,
    no_progress: _NoProgress = False,
) -> None:
    """Predict every frame of synchronized videos (one per view) into a zarr store and per-view CSVs."""
    from lp3d_models.prediction import predict_videos

    result = predict_videos(
        run_dir,
        videos,
        out,
        group=group,
        csv_dir=csv_dir,
        batch_size=batch_size,
        checkpoint=checkpoint,
        device=device,
        shortest=shortest,
        overwrite=overwrite,
        progress=not no_progress,
    )
    typer.echo(f"{result.n_frames} frames -> {result.store}/{result.group}")
    if result.csv_files:
        typer.echo(f"CSVs: {next(iter(result.csv_files.values())).parent}")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A training run directory.")],
    split: Annotated[str, typer.Option(help="test, val or train frames.")] = "test",
    checkpoint: Annotated[str, typer.Option(help="best or last.")] = "best",
    device: _Device = "auto",
) -> None:
    """Pixel error per keypoint and view on held-out labeled frames (table, CSVs and a plot)."""
    from lp3d_models.evaluation import evaluate as run_evaluation

    result = run_evaluation(run_dir, split=split, checkpoint=checkpoint, device=device)
    typer.echo(result.to_markdown())
    typer.echo(
        f"ensemble: {result.overall():.2f} px, mean-pose baseline: {result.overall('mean_pose_baseline'):.2f} px"
    )
    typer.echo(f"tables and plot: {result.out_dir}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The project folder (with CollectedData_<view>.csv files).")],
    synthetic: Annotated[bool, typer.Option(help="Configure a synthetic session instead of labels.")] = False,
    name: Annotated[str, typer.Option(help="Config file name.")] = "lp3d.yaml",
    overwrite: _Overwrite = False,
) -> None:
    """Write a starting training config for a project folder."""
    from lp3d_models.project import init_project

    result = init_project(directory, config_name=name, synthetic=synthetic, overwrite=overwrite)
    if result.views:
        typer.echo(f"views {', '.join(result.views)}: {result.n_frames} labeled frames, {result.n_keypoints} keypoints")
    typer.echo(f"model input {result.model_size[0]} x {result.model_size[1]} (height x width)")
    typer.echo(f"wrote {result.config}; next: lp3d train {result.config}")
