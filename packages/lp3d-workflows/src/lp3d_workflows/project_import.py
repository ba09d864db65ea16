"""``lp3d import``: a project of another tool becomes an lp3d project, the source left untouched.

The kind of SOURCE is detected (or given):

- ``anipose``: a folder with ``config.toml`` (:func:`lp3d_io.anipose.read_anipose_project`);
- ``deeplabcut``: a folder with a DeepLabCut ``config.yaml``, one with ``scorer`` and ``bodyparts``
  (:func:`lp3d_io.deeplabcut.read_deeplabcut_project`);
- ``lightning-pose``: a folder with a config with a ``data`` section, or ``CollectedData*.csv``
  (:func:`lp3d_io.lightning_pose.read_lightning_pose_project`);
- ``sleap``: a ``.slp`` file, a folder of them, or sleap-anipose sessions
  (:func:`lp3d_io.sleap.read_sleap_project`).

What was read is written as an lp3d project (:func:`lp3d_io.projects.write_project`: label files,
frames, videos, calibrations and ``import.json``), whole or not at all. The import writes no
training config: it needs lp3d-models (torch) and a look at the images, which ``lp3d init OUT``
does; :attr:`ImportResult.next_steps` says so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lp3d_io.files import check_target, is_occupied

from lp3d_workflows.errors import UserError
from lp3d_workflows.progress import ProgressCallback, report

__all__ = ["IMPORT_KINDS", "ImportResult", "detect_kind", "import_project"]

log = logging.getLogger(__name__)

IMPORT_KINDS = ("lightning-pose", "deeplabcut", "sleap", "anipose")


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_project` found, wrote and skipped.

    Attributes:
        kind: the source's tool.
        source, out: the source read and the project written.
        views, keypoints, individuals: the project's names.
        n_frames: labeled frames written.
        sessions: every session (of labeled frames or videos).
        n_videos: videos written.
        calibrated: sessions with a calibration.
        found: one line per thing found.
        skipped: ``(what, why)`` of everything not imported.
        replaced: OUT held an earlier project (``overwrite``).
        next_steps: the commands to run next.
    """

    kind: str
    source: Path
    out: Path
    views: list[str]
    keypoints: list[str]
    individuals: list[str]
    n_frames: int
    sessions: list[str]
    n_videos: int
    calibrated: list[str]
    found: list[str]
    skipped: list[tuple[str, str]]
    replaced: bool = False
    next_steps: list[str] = field(default_factory=list)


def detect_kind(source: str | os.PathLike) -> str:
    """The kind of project at ``source`` (see the module docstring).

    Raises:
        UserError: nothing there, or no project of a known kind.
    """
    from lp3d_io.anipose import is_anipose_project
    from lp3d_io.deeplabcut import is_deeplabcut_project
    from lp3d_io.lightning_pose import is_lightning_pose_project
    from lp3d_io.sleap import is_sleap_project

    source = Path(source)
    if not source.exists():
        raise UserError(f"SOURCE {source}: no such file or folder")
    if source.is_file():
        if source.name.endswith(".slp"):
            return "sleap"
        if source.name == "config.toml":
            return "anipose"
        if source.suffix in (".yaml", ".yml"):
            return (
                "deeplabcut"
                if is_deeplabcut_project(source.parent) and source.name == "config.yaml"
                else "lightning-pose"
            )
        raise UserError(
            f"SOURCE {source}: expected a project folder, a config (config.yaml, config.toml) or a .slp file, "
            f"but got a {source.suffix or 'suffix-less'} file"
        )
    if is_anipose_project(source):
        return "anipose"
    if is_deeplabcut_project(source):
        return "deeplabcut"
    if is_lightning_pose_project(source):
        return "lightning-pose"
    if is_sleap_project(source):
        return "sleap"
    raise UserError(
        f"SOURCE {source}: expected a Lightning Pose, DeepLabCut, SLEAP or anipose project (config.yaml, config.toml, "
        f"CollectedData*.csv or .slp files), but found none; pass --from {'|'.join(IMPORT_KINDS)}"
    )


def _check_paths(source: Path, out: Path) -> None:
    src, dst = source.resolve(), out.resolve()
    folder = src if source.is_dir() else src.parent
    if dst == folder or folder in dst.parents:
        raise UserError(f"--out {out}: expected a folder outside SOURCE {source} (the source is never modified)")
    if dst in src.parents:
        raise UserError(f"--out {out}: expected a folder that does not contain SOURCE {source}")


def import_project(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    kind: str | None = None,
    views: Sequence[str] | None = None,
    predicted: bool = False,
    link_videos: bool = False,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Imports a project of another tool as an lp3d project (``lp3d import``).

    Args:
        source: the project (see the module docstring).
        out: the lp3d project folder to write (must be outside SOURCE).
        kind: one of :data:`IMPORT_KINDS`; default detected.
        views: (DeepLabCut) camera names in the video names of a multi-camera project.
        predicted: (SLEAP) import predicted instances too.
        link_videos: link the videos instead of copying them.
        overwrite: replace an existing OUT.
        progress: called as the project is read and written.

    Raises:
        UserError: a bad SOURCE, OUT or option, or nothing to import.
        ValueError / OSError: a file of the source that cannot be read (one line naming it).
    """
    source, out = Path(source), Path(out)
    if kind is not None and kind not in IMPORT_KINDS:
        raise UserError(f"--from: expected one of {', '.join(IMPORT_KINDS)}, but got {kind!r}")
    found_kind = kind or detect_kind(source)
    if not source.exists():
        raise UserError(f"SOURCE {source}: no such file or folder")
    if views and found_kind != "deeplabcut":
        raise UserError(f"--views: expected only for a DeepLabCut project, but SOURCE is a {found_kind} project")
    if predicted and found_kind != "sleap":
        raise UserError(f"--predicted: expected only for SLEAP labels, but SOURCE is a {found_kind} project")
    _check_paths(source, out)
    check_target(out, overwrite, "--out")
    replaced = is_occupied(out)
    report(progress, f"reading the {found_kind} project {source.name}")
    project = _read(source, found_kind, views=views, predicted=predicted)
    if project.n_frames == 0 and not project.videos:
        reasons = "; ".join(str(s) for s in project.skipped[:3]) or "no labeled frames or videos found"
        raise UserError(f"SOURCE {source}: expected labeled frames or videos to import, but found none ({reasons})")
    for item in project.skipped:
        log.debug(f"skipped {item}")
    from lp3d_io.projects import write_project

    write_project(project, out, link_videos=link_videos, progress=progress)
    next_steps = (
        [f"lp3d init {out}", f"lp3d train {out / 'lp3d.yaml'}  (or: lp3d pipeline {out / 'lp3d.yaml'})"]
        if project.n_frames
        else [f"label frames of {out}'s videos (CollectedData_<view>.csv), then lp3d init {out}"]
    )
    return ImportResult(
        kind=found_kind,
        source=source,
        out=out,
        views=list(project.view_names),
        keypoints=list(project.keypoint_names),
        individuals=list(project.individual_names),
        n_frames=project.n_frames,
        sessions=project.session_names,
        n_videos=sum(len(v) for v in project.videos.values()),
        calibrated=sorted(project.calibrations),
        found=list(project.found),
        skipped=[(s.what, s.why) for s in project.skipped],
        replaced=replaced,
        next_steps=next_steps,
    )


def _read(source: Path, kind: str, *, views: Sequence[str] | None, predicted: bool):
    if kind == "lightning-pose":
        from lp3d_io.lightning_pose import read_lightning_pose_project

        return read_lightning_pose_project(source)
    if kind == "deeplabcut":
        from lp3d_io.deeplabcut import read_deeplabcut_project

        return read_deeplabcut_project(source, views=views)
    if kind == "sleap":
        from lp3d_io.sleap import read_sleap_project

        try:
            return read_sleap_project(source, predicted=predicted)
        except ImportError as err:
            from lp3d_workflows.errors import MissingExtraError

            raise MissingExtraError(str(err)) from None
    from lp3d_io.anipose import read_anipose_project

    return read_anipose_project(source)
