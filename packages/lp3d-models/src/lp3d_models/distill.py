"""Pseudo-label distillation: confident, diverse frames of smoothed videos become training labels.

After an ensemble has predicted a lab's unlabeled videos and the ensemble Kalman smoother has
smoothed them (``lp3d predict``, ``lp3d smooth``), :func:`distill` trains a student on the labeled
frames plus pseudo-labeled ones: it chooses the frames (:mod:`lp3d_models.frame_selection`),
writes their pseudo-labels with weights (:mod:`lp3d_models.pseudo_labels`), and trains.

The student's config is the teacher's with ``data.pseudo_labels`` set to that folder, its seeds
``distill.seeds``, its run directory the output, and the teacher's train/val/test split (so both
are scored on the same held-out frames).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from lp3d_io.files import atomic_path
from lp3d_io.layout import CONFIG_FILE, SPLIT_FILE, SYNTHETIC_DIR, checkpoint_path, member_name

from lp3d_models.distributed import barrier, is_rank_zero
from lp3d_models.frame_selection import read_smoothed, select_frames
from lp3d_models.pseudo_labels import PSEUDO_LABELS, labeled_frame_ids, write_pseudo_labels

__all__ = ["DistillResult", "student_config", "distill"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillResult:
    """What :func:`distill` did.

    Attributes:
        run_dir: the student's run directory.
        pseudo_labels: the pseudo-label folder.
        frames: ``{session: chosen frames}``.
        best_val_error: per student member, its best validation pixel error (empty if not trained).
    """

    run_dir: Path
    pseudo_labels: Path
    frames: dict[str, np.ndarray]
    best_val_error: list[float]


def student_config(teacher: Any, teacher_dir: str | os.PathLike, out: str | os.PathLike, pseudo_labels: Path) -> Any:
    """The student's config: the teacher's (a :class:`~lp3d_models.config.Config`) with its run
    directory ``out``, ``data.pseudo_labels = [pseudo_labels]``, seeds ``distill.seeds`` and
    ``distill.max_steps``; a synthetic teacher's session is read from the teacher's run directory.
    With ``distill.warm_start`` the students start from the weights of the teacher's first member
    (``model.init_checkpoint``): at a small budget, a student trained from scratch on noisy
    pseudo-labels does not catch up with a teacher trained on clean labels alone."""
    import copy

    config = copy.deepcopy(teacher)
    config.run_dir = str(Path(out).resolve())
    if config.data.synthetic is not None:
        config.data.root = str((Path(teacher_dir) / SYNTHETIC_DIR).resolve())
        config.data.synthetic = None
    config.data.pseudo_labels = [str(Path(pseudo_labels).resolve())]
    config.training.seeds = list(config.distill.seeds)
    if config.distill.max_steps is not None:
        config.training.max_steps = config.distill.max_steps
    if config.distill.warm_start:
        member = member_name(teacher.training.seeds[0])
        candidates = [checkpoint_path(teacher_dir, member, kind) for kind in ("best", "last")]
        start = next((path for path in candidates if path.is_file()), None)
        if start is None:
            raise FileNotFoundError(
                f"{candidates[0].parent}: expected a checkpoint to start the student from (distill.warm_start)"
            )
        config.model.init_checkpoint = str(start.resolve())
    return config


def distill(
    run_dir: str | os.PathLike,
    stores: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    n_frames: int | None = None,
    variance_quantile: float | None = None,
    seeds: Sequence[int] | None = None,
    max_steps: int | None = None,
    seed: int | None = None,
    warm_start: bool | None = None,
    train_student: bool = True,
    overwrite: bool = False,
    offsets: Mapping[str, Mapping[str, int]] | None = None,
) -> DistillResult:
    """Chooses frames, writes their pseudo-labels and trains a student (steps 1-3 of the module docstring).

    Args:
        run_dir: the teacher's training run (its labeled frames are never chosen).
        stores: smoothed stores of its predictions on unlabeled videos, one per session.
        out: the student's run directory; the pseudo-labels go to ``<out>/pseudo_labels``.
        n_frames, variance_quantile, seeds, max_steps, seed, warm_start: override the teacher
            config's ``distill`` section (:class:`~lp3d_models.config.DistillConfig`; None keeps the
            teacher's).
        train_student: train the student (else only write the pseudo-labels).
        overwrite: replace an earlier student in ``out``.
        offsets: ``{session: {view: frame}}`` of videos predicted with offsets (frame extraction).

    On several ranks (:mod:`lp3d_models.distributed`) every rank chooses the same frames, rank 0
    writes the folder, and all train the student together.

    Raises:
        FileNotFoundError: a missing run or store.
        ValueError: bad stores (no smoothed results, other views, keypoints or individuals than the run), no
            candidate frames, or an existing ``out`` without ``overwrite``.
    """
    from lp3d_models.config import save_config
    from lp3d_models.data import load_data
    from lp3d_models.runs import load_run
    from lp3d_models.training import train

    if not stores:
        raise ValueError("stores: expected at least one smoothed store, but got none")
    out = Path(out).resolve()
    sessions = [read_smoothed(s) for s in stores]
    teacher = load_run(run_dir)
    dc = teacher.config.distill
    for key, value in (
        ("n_frames", n_frames),
        ("variance_quantile", variance_quantile),
        ("max_steps", max_steps),
        ("seed", seed),
        ("warm_start", warm_start),
    ):
        if value is not None:
            setattr(dc, key, value)
    if seeds is not None:
        dc.seeds = list(seeds)
    if is_rank_zero() and out.exists() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"{out}: already exists and is not empty (pass --overwrite to replace the student)")
    for path, s in zip(stores, sessions, strict=True):
        if s.view_names != teacher.view_names or s.keypoint_names != teacher.keypoint_names:
            raise ValueError(
                f"{path}: expected views {teacher.view_names} and keypoints {teacher.keypoint_names} "
                f"(those of {teacher.run_dir}), but got {s.view_names} and {s.keypoint_names}"
            )
        if s.individual_names != teacher.individual_names:
            raise ValueError(
                f"{path}: expected individuals {teacher.individual_names} (those of {teacher.run_dir}), "
                f"but got {s.individual_names}"
            )
    data = load_data(teacher.config.data, teacher.run_dir, cameras=False)
    labeled = set().union(*(labeled_frame_ids(data.image_paths[v], view) for v, view in enumerate(data.image_views())))
    selection = select_frames(
        sessions, dc.n_frames, variance_quantile=dc.variance_quantile, seed=dc.seed, labeled=labeled
    )
    if not sum(len(f) for f in selection.values()):
        raise ValueError(
            f"no candidate frames in {len(sessions)} session(s): every frame is labeled, inflated or "
            f"above the variance quantile {dc.variance_quantile}"
        )
    for path, s in zip(stores, sessions, strict=True):
        n_labeled = sum(1 for session, _ in labeled if session == s.name)
        log.info(f"{path}: session {s.name!r}, {n_labeled} labeled frame(s) of it never pseudo-labeled")
    crops = teacher.config.data.crops
    boxes = {v: list(crops[v].box) for v in teacher.view_names} if crops else None
    config = student_config(teacher.config, teacher.run_dir, out, out / PSEUDO_LABELS)
    if is_rank_zero():
        if out.exists() and overwrite:
            shutil.rmtree(out)
        out.mkdir(parents=True)
        with atomic_path(out / PSEUDO_LABELS, create=False) as staged:
            write_pseudo_labels(staged, sessions, selection, crops=boxes, offsets=offsets)
        shutil.copyfile(teacher.run_dir / SPLIT_FILE, out / SPLIT_FILE)  # the same held-out frames
        if not train_student:
            save_config(config, out / CONFIG_FILE)
    barrier()  # the other ranks read what rank 0 wrote
    errors: list[float] = []
    if train_student:
        errors = train(config).best_val_error
    return DistillResult(out, out / PSEUDO_LABELS, selection, errors)
