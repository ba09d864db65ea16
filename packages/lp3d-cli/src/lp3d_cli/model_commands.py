"""``lp3d train / predict / evaluate / init``: the commands of lp3d-models' functions.

Mounted into ``lp3d`` by :mod:`lp3d_cli.main`. Each parses its arguments, calls one function of
lp3d-models (the ``models`` extra: ``pip install 'lp3d-cli[models]'``; without it a command says
so in one line) and prints; errors are ``ValueError`` / ``OSError`` with one-line messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from lp3d_workflows.errors import require_models

from lp3d_cli.console import quiet_training_logs
from lp3d_cli.options import Checkpoint, ConfigOverrides, Device, NoProgress, Overwrite, RunDir
from lp3d_cli.parsing import parse_crops, parse_offsets, parse_seeds

app = typer.Typer(no_args_is_help=True, help="Train and run multi-view pose models.")


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="The YAML config (write one with `lp3d init DIR`).")],
    set_: ConfigOverrides = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Ensemble members to train, e.g. 0,1,2 (default training.seeds).")
    ] = None,
    pretrained: Annotated[
        str | None, typer.Option("--pretrained", help="Backbone weights file (or true/false), as model.pretrained.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue members from their last checkpoint.")] = False,
    overwrite: Overwrite = False,
    no_progress: NoProgress = False,
) -> None:
    """Train a multi-view pose model (one per seed: an ensemble) on a project's labeled frames.

    Several devices (training.devices: 2, also on the CPU) train with DDP; the command then runs once
    per device, and the first prints.

    [bold]Examples[/bold]

      lp3d train mouse/lp3d.yaml
      lp3d train mouse/lp3d.yaml --seeds 0,1,2 --set training.steps=5000
      lp3d train mouse/lp3d.yaml --resume
    """
    require_models()
    from lp3d_models.config import load_config
    from lp3d_models.training import train as run_training

    quiet_training_logs()
    overrides = list(set_ or [])
    if pretrained is not None:  # a file is relative to the working folder, unlike paths in the config
        is_flag = pretrained.lower() in ("true", "false")
        overrides.append(f"model.pretrained={pretrained.lower() if is_flag else Path(pretrained).resolve()}")
    if no_progress:
        overrides.append("training.progress_bar=false")
    result = run_training(load_config(config, overrides), parse_seeds(seeds), resume=resume, overwrite=overwrite)
    if result.rank != 0:
        return
    for member, error in zip(result.members, result.best_val_error, strict=True):
        typer.echo(f"{member.name}: best validation error {error:.2f} px")
    typer.echo(f"run: {result.run_dir}")


@app.command()
def predict(
    run_dir: RunDir,
    videos: Annotated[
        list[Path],
        typer.Argument(help="One video per view, file names containing the view names (one video for crop views)."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The zarr store to write (created if missing).")],
    group: Annotated[str | None, typer.Option(help="Predictions group (default predictions/<run name>).")] = None,
    csv_dir: Annotated[Path | None, typer.Option(help="CSV folder (default <store>_csv beside the store).")] = None,
    batch_size: Annotated[int, typer.Option(help="Frames per batch.")] = 16,
    checkpoint: Checkpoint = "best",
    shortest: Annotated[bool, typer.Option(help="Stop at the shortest video instead of failing.")] = False,
    offset: Annotated[
        list[str] | None,
        typer.Option(
            "--offset",
            metavar="VIEW=FRAME",
            help="The frame of VIEW's video that is the session's frame 0 (a view that started earlier); repeatable.",
        ),
    ] = None,
    labeled_videos: Annotated[
        Path | None,
        typer.Option(
            "--labeled-videos", help="Also write the videos with the predictions drawn (ensemble median, spread) here."
        ),
    ] = None,
    device: Device = "auto",
    overwrite: Overwrite = False,
    no_progress: NoProgress = False,
) -> None:
    """Predict every frame of synchronized videos (one per view) into a zarr store and per-view CSVs.

    A run of views cropped from one camera's frames (data.crops, a mirror rig) takes the one video.

    [bold]Examples[/bold]

      lp3d predict mouse/runs/run1 videos/s1_top.mp4 videos/s1_side.mp4 -o s1.zarr
      lp3d predict mouse/runs/run1 videos/s2_*.mp4 -o s2.zarr --offset side=3
      lp3d predict mouse/runs/run1 videos/s3_*.mp4 -o s3.zarr --labeled-videos s3
    """
    require_models()
    from lp3d_models.prediction import predict_videos

    result = predict_videos(
        run_dir,
        videos,
        out,
        group=group,
        csv_dir=csv_dir,
        labeled_videos=labeled_videos,
        batch_size=batch_size,
        checkpoint=checkpoint,
        device=device,
        offsets=parse_offsets(offset),
        shortest=shortest,
        overwrite=overwrite,
        progress=not no_progress,
    )
    typer.echo(f"{result.n_frames} frames -> {result.store}/{result.group}")
    if result.csv_files:
        typer.echo(f"CSVs: {next(iter(result.csv_files.values())).parent}")
    for path in result.labeled_videos:
        typer.echo(f"labeled video: {path}")


@app.command()
def evaluate(
    run_dir: RunDir,
    split: Annotated[str, typer.Option(help="test, val or train frames.")] = "test",
    checkpoint: Checkpoint = "best",
    overlays: Annotated[
        int, typer.Option(help="Overlay images (labels and predictions) of at most this many frames.")
    ] = 50,
    device: Device = "auto",
) -> None:
    """Pixel error per keypoint and view on held-out labeled frames (tables, a plot, overlay images);
    with calibrated frames also the 3D error.

    [bold]Examples[/bold]

      lp3d evaluate mouse/runs/run1
      lp3d evaluate mouse/runs/run1 --split val --checkpoint last --overlays 0
    """
    require_models()
    from lp3d_models.evaluation import BASELINE
    from lp3d_models.evaluation import evaluate as run_evaluation

    result = run_evaluation(run_dir, split=split, checkpoint=checkpoint, device=device, overlays=overlays)
    typer.echo(result.to_markdown())
    typer.echo(
        f"ensemble: {result.overall():.2f} px, mean-pose baseline: {result.overall(BASELINE):.2f} px "
        f"({result.count()} labels)"
    )
    for individual in result.individual_names:
        typer.echo(
            f"  {individual}: ensemble {result.overall(individual=individual):.2f} px, mean-pose baseline "
            f"{result.overall(BASELINE, individual):.2f} px ({result.count(individual=individual)} labels)"
        )
    if result.identity is not None:
        typer.echo(
            f"identity swaps (frames x views where another animal's predictions match the labels better): "
            f"ensemble {100 * result.swap_rate():.1f}%, mean-pose baseline {100 * result.swap_rate(BASELINE):.1f}%"
        )
    if result.summary_3d is not None:
        typer.echo(result.to_markdown_3d())
        ensemble, baseline = result.overall_3d(), result.overall_3d(BASELINE)
        typer.echo(f"3D: ensemble {ensemble:.4g}, mean-pose baseline {baseline:.4g} (world units)")
    typer.echo(f"tables and plot: {result.out_dir}")
    if result.overlays:
        typer.echo(f"overlays: {result.overlays[0].parent} ({len(result.overlays)} frames)")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="The project folder (with CollectedData_<view>.csv files).")],
    synthetic: Annotated[bool, typer.Option(help="Configure a synthetic session instead of labels.")] = False,
    backbone: Annotated[
        str | None,
        typer.Option(help="Backbone (vit_s16, vit_t16, resnet18_s16, dinov2_s14, ...); the model size follows it."),
    ] = None,
    crop: Annotated[
        list[str] | None,
        typer.Option(
            "--crop",
            metavar="VIEW=X,Y,W,H",
            help="A view cut from the whole frames (a mirror rig), its box in pixels; repeat for each view.",
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="Label file name: CollectedData_{view}.csv by default; with --crop one file may hold all."),
    ] = None,
    name: Annotated[str, typer.Option(help="Config file name.")] = "lp3d.yaml",
    overwrite: Overwrite = False,
) -> None:
    """Write a starting training config for a project folder.

    [bold]Examples[/bold]

      lp3d init mouse/
      lp3d init mouse/ --backbone dinov2_s14
      lp3d init mouse/ --labels CollectedData.csv \\
        --crop top=0,0,396,168 --crop bot=0,168,396,238
    """
    require_models()
    from lp3d_models.project import init_project

    result = init_project(
        directory,
        config_name=name,
        synthetic=synthetic,
        backbone=backbone,
        crops=parse_crops(crop),
        labels=labels,
        overwrite=overwrite,
    )
    if result.views:
        typer.echo(f"views {', '.join(result.views)}: {result.n_frames} labeled frames, {result.n_keypoints} keypoints")
    typer.echo(f"model input {result.model_size[0]} x {result.model_size[1]} (height x width)")
    typer.echo(f"wrote {result.config}; next: lp3d train {result.config}")
