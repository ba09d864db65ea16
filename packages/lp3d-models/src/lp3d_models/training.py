"""Training with Lightning: the task (loss, masking, metrics, optimizer) and :func:`train`.

The layout of a run directory is :mod:`lp3d_models.runs`'s.

Optimization: AdamW with two parameter groups (the backbone at ``lr * backbone_lr_scale``, the
rest, i.e. view embeddings and head, at ``lr``; no weight decay on biases, norms and embeddings),
a linear warm-up of ``warmup_steps`` then cosine or linear decay to ``min_lr_ratio`` of the peak.
With ``freeze_backbone_steps`` the backbone's learning rate is zero for those first steps (its
warm-up starts after them): only the head and view embeddings learn, and nothing about the model
changes for distributed training.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
import torchmetrics
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lp3d_io.files import write_text_atomic
from torch.utils.data import DataLoader

from lp3d_models.config import Config, config_to_dict, load_config, save_config
from lp3d_models.data import (
    LabeledData,
    PoseFrames,
    load_data,
    load_split,
    make_split,
    save_split,
    training_frames,
)
from lp3d_models.geometry import Cameras, apply_affine, cameras_from_batch, invert_affine, project, triangulate
from lp3d_models.losses import coordinate_loss, heatmap_loss, triangulation_loss
from lp3d_models.masking import MaskingSchedule, random_patch_mask
from lp3d_models.model import MultiViewPoseModel, PoseOutput, to_model_pixels, to_original_pixels
from lp3d_models.runs import (
    CONFIG_FILE,
    EVALUATION_DIR,
    RUN_FILE,
    SPLIT_FILE,
    checkpoint_path,
    load_member,
    member_name,
    model_from_config,
)

__all__ = ["PoseTask", "TrainResult", "train", "lr_factor"]

# Settings whose change makes a run's split or checkpoints incompatible with its earlier members.
_FIXED_KEYS = {
    "data": ("root", "views", "labels", "synthetic", "val_fraction", "test_fraction", "split_seed"),
    "model": ("backbone", "height", "width", "heatmap_stride", "head_channels", "joint_blocks"),
    "loss": ("sigma",),
}


def lr_factor(step: int, total: int, warmup: int, schedule: str, min_ratio: float, delay: int = 0) -> float:
    """Learning-rate multiplier at ``step``: zero for ``delay`` steps, a linear warm-up over
    ``warmup`` steps, then ``schedule`` decay to ``min_ratio`` at ``total``."""
    step -= delay
    if step < 0:
        return 0.0
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    frac = min(1.0, (step - warmup) / max(1, total - delay - warmup))
    decay = 0.5 * (1.0 + math.cos(math.pi * frac)) if schedule == "cosine" else 1.0 - frac
    return min_ratio + (1.0 - min_ratio) * decay


class PoseTask(L.LightningModule):
    """The model with its losses, patch masking, validation metrics and optimizer.

    The loss is the heatmap loss, weighted per label (``weights`` of the batch: pseudo-labels
    count by their confidence), plus the coordinate loss (:func:`lp3d_models.losses.coordinate_loss`,
    same weights; its weight ramps linearly to ``loss.coordinate_weight`` over
    ``loss.coordinate_warmup_steps``), plus, with ``geometry.enabled`` and ``geometry.triangulation_loss``,
    the triangulation loss (:func:`lp3d_models.losses.triangulation_loss`) on the batch's calibrated
    samples, its weight zero before ``geometry.loss_start_step`` and then ramping linearly to
    ``geometry.loss_weight`` over ``geometry.loss_warmup_steps`` (the heatmaps first learn where
    the keypoints are; only then is their agreement across views worth asking for). A batch
    without the geometry keys (``calibrated``, cameras, ``affine``) trains on the heatmap loss.

    Logged: ``train/loss`` (the total), ``train/heatmap_loss``, ``train/triangulation_loss`` and
    its weight; ``val/loss``, ``val/pixel_error`` (original pixels, the checkpoint monitor) and,
    on calibrated validation samples, ``val/error_3d`` (world units: the predictions of all views
    triangulated, weighted by confidence, against the triangulated labels) and
    ``val/reprojection_<view>`` (original pixels: that 3D prediction projected into the view,
    against its label).

    Args:
        model: the pose model.
        config: the run's config.
        total_steps: planned optimizer steps (for the learning-rate decay).
        view_names: names for the per-view metrics (default: ``config.data.views``, else ``view<v>``).
    """

    def __init__(
        self,
        model: MultiViewPoseModel,
        config: Config,
        total_steps: int,
        view_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.total_steps = int(total_steps)
        mc = config.masking
        self.masking = MaskingSchedule(mc.initial, mc.final, mc.start_step, mc.end_step)
        self.val_error = torchmetrics.MeanMetric()
        self.val_error_3d = torchmetrics.MeanMetric()
        self.val_reprojection = torch.nn.ModuleList(torchmetrics.MeanMetric() for _ in range(model.n_views))
        names = view_names if view_names is not None else config.data.views
        if names is None or len(names) != model.n_views:
            names = [f"view{v}" for v in range(model.n_views)]
        self.view_names = list(names)

    def _loss(
        self, heatmaps: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        lc = self.config.loss
        return heatmap_loss(heatmaps, keypoints, weights, stride=self.model.head.stride, sigma=lc.sigma, kind=lc.kind)

    def coordinate_weight(self, step: int) -> float:
        """The coordinate loss's weight at optimizer step ``step`` (a linear ramp to ``loss.coordinate_weight``)."""
        lc = self.config.loss
        return lc.coordinate_weight * min(1.0, (step + 1) / max(1, lc.coordinate_warmup_steps))

    def triangulation_weight(self, step: int) -> float:
        """The triangulation loss's weight at optimizer step ``step`` (see the class docstring)."""
        g = self.config.geometry
        if not (g.enabled and g.triangulation_loss) or step < g.loss_start_step:
            return 0.0
        return g.loss_weight * min(1.0, (step - g.loss_start_step + 1) / max(1, g.loss_warmup_steps))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, keypoints = batch["images"], batch["keypoints"]
        B, V = images.shape[:2]
        ratio = self.masking.ratio(self.global_step)
        hidden = random_patch_mask(B, V, self.model.grid_size, ratio, device=self.device) if ratio > 0 else None
        out = self.model(images, hidden=hidden)
        loss = heat = self._loss(out.heatmaps, keypoints, batch.get("weights"))
        coordinate_weight = self.coordinate_weight(self.global_step)
        if coordinate_weight > 0:
            coordinate = coordinate_loss(out.keypoints, keypoints, batch.get("weights"))
            loss = loss + coordinate_weight * coordinate
            self.log("train/coordinate_loss", coordinate, batch_size=B)
        weight = self.triangulation_weight(self.global_step)
        if self.config.geometry.enabled and self.config.geometry.triangulation_loss and "calibrated" in batch:
            calibrated = batch["calibrated"].bool()
            if bool(calibrated.any()):
                tri = triangulation_loss(
                    out.keypoints,
                    keypoints,
                    cameras_from_batch(batch),
                    batch["affine"],
                    confidence=out.confidence.detach(),
                    weights=batch.get("weights"),
                    calibrated=calibrated,
                )
                loss = loss + weight * tri
                self.log("train/triangulation_loss", tri, batch_size=int(calibrated.sum()))
            self.log("train/triangulation_weight", weight, batch_size=B)
        self.log("train/loss", loss, prog_bar=True, batch_size=B)
        self.log("train/heatmap_loss", heat, batch_size=B)
        self.log("train/mask_ratio", ratio, batch_size=B)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        images, keypoints, sizes = batch["images"], batch["keypoints"], batch["image_sizes"]
        out = self.model(images, image_sizes=sizes)
        val_loss = self._loss(out.heatmaps, keypoints, batch.get("weights"))
        self.log("val/loss", val_loss, batch_size=images.shape[0], sync_dist=True)
        truth = to_original_pixels(keypoints, self.model.image_size, sizes)
        error = torch.linalg.vector_norm(out.keypoints - truth, dim=-1)
        error = error[torch.isfinite(error)]
        if error.numel():
            self.val_error.update(error)
            self.log("val/pixel_error", self.val_error, prog_bar=True, batch_size=int(error.numel()))
        if "calibrated" in batch and bool(batch["calibrated"].any()):
            self._validate_3d(batch, out)

    def _validate_3d(self, batch: dict[str, torch.Tensor], out: PoseOutput) -> None:
        """Updates and logs ``val/error_3d`` and ``val/reprojection_<view>`` (see the class docstring)."""
        keep = batch["calibrated"].bool()
        cameras = Cameras(*(t[keep] for t in cameras_from_batch(batch)))
        to_camera = invert_affine(batch["affine"][keep].double())
        labels = apply_affine(batch["keypoints"][keep], to_camera)  # (B, V, K, 2) original pixels
        model_pixels = to_model_pixels(out.keypoints[keep], self.model.image_size, batch["image_sizes"][keep])
        predicted = triangulate(apply_affine(model_pixels, to_camera), cameras, out.confidence[keep])
        weights = batch["weights"][keep] if "weights" in batch else None
        truth = triangulate(labels, cameras, weights)
        error = torch.linalg.vector_norm(predicted - truth, dim=-1)
        error = error[torch.isfinite(error)]
        if error.numel():
            self.val_error_3d.update(error)
            self.log("val/error_3d", self.val_error_3d, batch_size=int(error.numel()))
        reprojection = torch.linalg.vector_norm(project(predicted, cameras) - labels, dim=-1)  # (B, V, K)
        for v, (name, metric) in enumerate(zip(self.view_names, self.val_reprojection, strict=True)):
            error = reprojection[:, v][torch.isfinite(reprojection[:, v])]
            if error.numel():
                metric.update(error)
                self.log(f"val/reprojection_{name}", metric, batch_size=int(error.numel()))

    def configure_optimizers(self) -> dict[str, Any]:
        tc = self.config.training
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            backbone = name.startswith("encoder.backbone.")
            no_decay = param.ndim <= 1 or name.endswith(("pos_embed", "cls_token", "reg_token", "view_embed"))
            groups.setdefault((backbone, no_decay), []).append(param)
        param_groups, lambdas = [], []
        for (backbone, no_decay), params in sorted(groups.items()):
            param_groups.append(
                {
                    "params": params,
                    "lr": tc.lr * (tc.backbone_lr_scale if backbone else 1.0),
                    "weight_decay": 0.0 if no_decay else tc.weight_decay,
                }
            )
            delay = tc.freeze_backbone_steps if backbone else 0
            lambdas.append(
                lambda step, d=delay: lr_factor(
                    step, self.total_steps, tc.warmup_steps, tc.schedule, tc.min_lr_ratio, delay=d
                )
            )
        optimizer = torch.optim.AdamW(param_groups)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did.

    Attributes:
        run_dir: the run directory.
        members: member folders, in seed order.
        best_val_error: per member, the lowest validation pixel error (NaN if never validated).
    """

    run_dir: Path
    members: list[Path]
    best_val_error: list[float]


def _is_rank_zero() -> bool:
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def _uses_gpu(config: Config) -> bool:
    accelerator = config.training.accelerator
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def _world_size(config: Config) -> int:
    devices = config.training.devices
    if isinstance(devices, int):
        return devices
    return max(1, torch.cuda.device_count()) if _uses_gpu(config) else 1


def _precision(config: Config) -> str:
    tc = config.training
    if tc.precision != "auto":
        return tc.precision
    if not _uses_gpu(config):
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def _prepare_run(config: Config, seeds: list[int], resume: bool, overwrite: bool) -> tuple[LabeledData, dict]:
    """Creates (or checks) the run directory; returns the data and the split."""
    run_dir = Path(config.run_dir)
    saved = run_dir / CONFIG_FILE
    if saved.is_file() and not overwrite:
        before = config_to_dict(load_config(saved))
        now = config_to_dict(config)
        changed = [f"{s}.{k}" for s, keys in _FIXED_KEYS.items() for k in keys if now[s][k] != before[s][k]]
        if changed:
            raise ValueError(
                f"{saved}: this run was trained with other {', '.join(changed)} "
                f"(choose another run_dir, or pass --overwrite to start it again)"
            )
        existing = [s for s in seeds if checkpoint_path(run_dir, member_name(s), "last").is_file()]
        if existing and not resume:
            raise ValueError(
                f"{run_dir}: member(s) {', '.join(member_name(s) for s in existing)} already trained "
                f"(pass --resume to continue them, --overwrite to start again, or other --seeds)"
            )
        config.training.seeds = sorted(set(before["training"]["seeds"]) | set(seeds))
    data = load_data(config.data, run_dir)
    split_path = run_dir / SPLIT_FILE
    if split_path.is_file() and not overwrite:
        split = load_split(split_path, data)
    else:
        dc = config.data
        split = make_split(data.n_frames, dc.val_fraction, dc.test_fraction, dc.split_seed)
    if _is_rank_zero():
        run_dir.mkdir(parents=True, exist_ok=True)
        save_split(split, data, split_path)
        save_config(config, saved)
        meta = {
            "views": data.view_names,
            "keypoints": data.keypoint_names,
            "model_size": [config.model.height, config.model.width],
            "members": [member_name(s) for s in config.training.seeds],
        }
        write_text_atomic(run_dir / RUN_FILE, json.dumps(meta, indent=1))
    return data, split


def _loaders(config: Config, data: LabeledData, split: dict[str, np.ndarray]) -> tuple[DataLoader, DataLoader | None]:
    dc, tc = config.data, config.training
    size = (config.model.height, config.model.width)
    geometry = config.geometry
    # The hand-labeled training frames and every pseudo-labeled frame (never validation).
    train_set = training_frames(data, split["train"], size, config.augment, geometry, cache=dc.cache_images)
    common = {"num_workers": dc.num_workers, "persistent_workers": dc.num_workers > 0}
    train_loader = DataLoader(
        train_set, batch_size=tc.batch_size, shuffle=True, drop_last=len(train_set) >= 2 * tc.batch_size, **common
    )
    if not len(split["val"]):
        return train_loader, None
    val_set = PoseFrames(data, split["val"], size, augment=None, cache=dc.cache_images, geometry=geometry)
    return train_loader, DataLoader(val_set, batch_size=tc.batch_size, shuffle=False, **common)


def _fit_member(config: Config, data: LabeledData, split: dict[str, np.ndarray], seed: int, resume: bool) -> float:
    tc = config.training
    member_dir = Path(config.run_dir) / member_name(seed)
    ckpt_dir = member_dir / "checkpoints"
    L.seed_everything(seed, workers=True, verbose=False)
    train_loader, val_loader = _loaders(config, data, split)
    steps_per_epoch = max(1, math.ceil(len(train_loader) / _world_size(config)))
    total = tc.max_steps if tc.max_steps is not None else tc.max_epochs * steps_per_epoch
    V, K = len(data.view_names), len(data.keypoint_names)
    if config.model.init_checkpoint is not None:  # e.g. a distilled student starting from its teacher
        model = load_member(config.model.init_checkpoint, config, V, K).train()
    else:
        model = model_from_config(config, V, K)
    task = PoseTask(model, config, total, view_names=data.view_names)
    callbacks: list[L.Callback] = [
        ModelCheckpoint(ckpt_dir, filename="last", every_n_train_steps=tc.val_every_steps, enable_version_counter=False)
    ]
    if val_loader is not None:
        best = ModelCheckpoint(
            ckpt_dir, filename="best", monitor="val/pixel_error", mode="min", enable_version_counter=False
        )
        callbacks.append(best)
    multi = isinstance(tc.devices, int) and tc.devices > 1
    trainer = L.Trainer(
        accelerator=tc.accelerator,
        devices=tc.devices,
        strategy="ddp" if multi else "auto",
        precision=_precision(config),
        max_epochs=-1 if tc.max_steps is not None else tc.max_epochs,
        max_steps=total,
        max_time=timedelta(minutes=tc.max_minutes) if tc.max_minutes is not None else None,
        val_check_interval=min(tc.val_every_steps, total) if val_loader is not None else None,
        check_val_every_n_epoch=None,
        limit_val_batches=None if val_loader is not None else 0,
        num_sanity_val_steps=0,
        gradient_clip_val=tc.gradient_clip,
        callbacks=callbacks,
        logger=CSVLogger(member_dir, name="logs"),
        log_every_n_steps=max(1, min(tc.log_every_steps, total, steps_per_epoch)),
        enable_progress_bar=tc.progress_bar,
        enable_model_summary=False,
        default_root_dir=member_dir,
    )
    last = ckpt_dir / "last.ckpt"
    with warnings.catch_warnings():
        # num_workers is a config choice (0 is right for small projects and CPU runs).
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        if resume:  # the checkpoints being continued are there on purpose
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        trainer.fit(task, train_loader, val_loader, ckpt_path=str(last) if resume and last.is_file() else None)
    trainer.save_checkpoint(last)
    if val_loader is None or best.best_model_score is None:
        return float("nan")
    return float(best.best_model_score)


def train(
    config: Config,
    seeds: list[int] | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
) -> TrainResult:
    """Trains one model per seed (an ensemble) on the config's data.

    Args:
        config: a loaded config (:func:`lp3d_models.config.load_config`).
        seeds: the members to train (default ``config.training.seeds``).
        resume: continue members that have a ``last.ckpt`` (else that is an error).
        overwrite: start the run directory again: a new split, every earlier member and
            evaluation removed.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: a run directory of another data/model config, or members already trained
            without ``resume``.
    """
    seeds = list(config.training.seeds if seeds is None else seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: expected distinct seeds, but got {seeds}")
    if overwrite and resume:
        raise ValueError("expected --resume or --overwrite, but got both")
    config.training.seeds = seeds
    data, split = _prepare_run(config, seeds, resume, overwrite)
    if overwrite and _is_rank_zero():  # members of the old split and its evaluation go too
        for old in [*Path(config.run_dir).glob(member_name("*")), Path(config.run_dir) / EVALUATION_DIR]:
            shutil.rmtree(old, ignore_errors=True)
    errors = [_fit_member(config, data, split, seed, resume) for seed in seeds]
    run_dir = Path(config.run_dir)
    return TrainResult(run_dir, [run_dir / member_name(s) for s in seeds], errors)
