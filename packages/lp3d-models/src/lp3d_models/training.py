"""Training with Lightning: the task (loss, masking, metrics, optimizer) and :func:`train`.

The layout of a run directory is :mod:`lp3d_models.runs`'s.

Optimization: AdamW with two parameter groups (the backbone at ``lr * backbone_lr_scale``, the
rest, i.e. view embeddings and head, at ``lr``; no weight decay on biases, norms and embeddings),
a linear warm-up of ``warmup_steps`` then cosine or linear decay to ``min_lr_ratio`` of the peak.
With ``freeze_backbone_steps`` the backbone's learning rate is zero for those first steps (its
warm-up starts after them): only the head and view embeddings learn, and nothing about the model
changes for distributed training.

Several devices (``training.devices: N``, also N CPU processes) train with DDP (gloo on the CPU):
``training.batch_size`` frames per optimizer step in all, ``batch_size / N`` per rank, each rank
its own share of the shuffled training frames (one seeded order, so a run is reproducible), and
the validation frames split between the ranks without repeats; the validation metrics are sums
and counts added over the ranks, so they are those of one process on the same frames. Every rank
runs the same code (:mod:`lp3d_models.distributed`); only rank 0 writes the run directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lp3d_io.files import write_text_atomic
from lp3d_io.layout import CONFIG_FILE, EVALUATION_DIR, RUN_FILE, SPLIT_FILE, member_name
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lp3d_models.config import Config, save_config
from lp3d_models.data import (
    LabeledData,
    PoseFrames,
    load_data,
    load_split,
    save_split,
    split_frames,
    training_frames,
)
from lp3d_models.distributed import is_rank_zero, rank
from lp3d_models.geometry import Cameras, apply_affine, cameras_from_batch, invert_affine, project, triangulate
from lp3d_models.losses import coordinate_loss, heatmap_loss, triangulation_loss
from lp3d_models.masking import MaskingSchedule, random_patch_mask
from lp3d_models.model import MultiViewPoseModel, PoseOutput, to_model_pixels, to_original_pixels
from lp3d_models.runs import load_member, model_from_config, run_conflicts

__all__ = ["PoseTask", "TrainResult", "train", "lr_factor"]


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
    against its label). Each validation metric is a sum and a count per rank, added over the ranks
    at the end of the validation (so a rank without calibrated samples counts nothing, and the
    mean is that of all the validation frames); a metric nothing counted is not logged.

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
        names = view_names if view_names is not None else config.data.views
        if names is None or len(names) != model.n_views:
            names = [f"view{v}" for v in range(model.n_views)]
        self.view_names = list(names)
        self.val_metrics = ["val/loss", "val/pixel_error", "val/error_3d", *(f"val/reprojection_{n}" for n in names)]
        self._val_sums = torch.zeros(len(self.val_metrics), 2, dtype=torch.float64)

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

    def _count(self, name: str, values: torch.Tensor, weight: float | None = None) -> None:
        """Adds ``values`` (their sum and number; or one value of ``weight``) to a validation metric."""
        row = self.val_metrics.index(name)
        values = values.detach().double()
        if weight is None:
            values = values[torch.isfinite(values)]
            self._val_sums[row, 0] += values.sum().cpu()
            self._val_sums[row, 1] += values.numel()
        else:
            self._val_sums[row, 0] += float(values) * weight
            self._val_sums[row, 1] += weight

    def on_validation_epoch_start(self) -> None:
        self._val_sums.zero_()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        counted = batch["counted"].bool() if "counted" in batch else None  # padding of a rank without frames
        if counted is not None:
            if not bool(counted.any()):
                return
            batch = {k: v[counted] if isinstance(v, torch.Tensor) and v.ndim else v for k, v in batch.items()}
        images, keypoints, sizes = batch["images"], batch["keypoints"], batch["image_sizes"]
        out = self.model(images, image_sizes=sizes)
        self._count("val/loss", self._loss(out.heatmaps, keypoints, batch.get("weights")), weight=images.shape[0])
        truth = to_original_pixels(keypoints, self.model.image_size, sizes)
        self._count("val/pixel_error", torch.linalg.vector_norm(out.keypoints - truth, dim=-1))
        if "calibrated" in batch and bool(batch["calibrated"].any()):
            self._validate_3d(batch, out)

    def _validate_3d(self, batch: dict[str, torch.Tensor], out: PoseOutput) -> None:
        """Counts ``val/error_3d`` and ``val/reprojection_<view>`` (see the class docstring)."""
        keep = batch["calibrated"].bool()
        cameras = Cameras(*(t[keep] for t in cameras_from_batch(batch)))
        to_camera = invert_affine(batch["affine"][keep].double())
        labels = apply_affine(batch["keypoints"][keep], to_camera)  # (B, V, K, 2) original pixels
        model_pixels = to_model_pixels(out.keypoints[keep], self.model.image_size, batch["image_sizes"][keep])
        predicted = triangulate(apply_affine(model_pixels, to_camera), cameras, out.confidence[keep])
        weights = batch["weights"][keep] if "weights" in batch else None
        truth = triangulate(labels, cameras, weights)
        self._count("val/error_3d", torch.linalg.vector_norm(predicted - truth, dim=-1))
        reprojection = torch.linalg.vector_norm(project(predicted, cameras) - labels, dim=-1)  # (B, V, K)
        for v, name in enumerate(self.view_names):
            self._count(f"val/reprojection_{name}", reprojection[:, v])

    def on_validation_epoch_end(self) -> None:
        sums = self._val_sums.to(self.device)
        if self.trainer.world_size > 1:  # every rank reduces the same table (module docstring)
            sums = self.trainer.strategy.reduce(sums, reduce_op="sum")
        for name, (total, count) in zip(self.val_metrics, sums.tolist(), strict=True):
            if count > 0:
                prog = name == "val/pixel_error"
                self.log(name, total / count, prog_bar=prog, sync_dist=self.trainer.world_size > 1)

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
        rank: the process's rank (0 unless several devices train; :mod:`lp3d_models.distributed`).
    """

    run_dir: Path
    members: list[Path]
    best_val_error: list[float]
    rank: int = 0


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
    if not overwrite:
        found = run_conflicts(config, seeds)
        if found.changed:
            raise ValueError(
                f"{saved}: this run was trained with other {', '.join(found.changed)} "
                f"(choose another run_dir, or pass --overwrite to start it again)"
            )
        if found.trained and not resume:
            raise ValueError(
                f"{run_dir}: member(s) {', '.join(found.trained)} already trained "
                f"(pass --resume to continue them, --overwrite to start again, or other --seeds)"
            )
        if found.saved_seeds is not None:
            config.training.seeds = sorted(set(found.saved_seeds) | set(seeds))
    data = load_data(config.data, run_dir, cameras=config.geometry.enabled)
    split_path = run_dir / SPLIT_FILE
    if split_path.is_file() and not overwrite:
        split = load_split(split_path, data)
    else:
        split = split_frames(data, config.data)
    if is_rank_zero():
        run_dir.mkdir(parents=True, exist_ok=True)
        save_split(split, data, split_path)
        save_config(config, saved)
        meta = {
            "views": data.view_names,
            "keypoints": data.keypoint_names,
            "individuals": data.individual_names,
            "model_size": [config.model.height, config.model.width],
            "members": [member_name(s) for s in config.training.seeds],
        }
        write_text_atomic(run_dir / RUN_FILE, json.dumps(meta, indent=1))
    return data, split


class _Counted(Dataset):
    """The validation frames of one rank; a rank with none gets one frame that counts for nothing
    (every rank must run the validation loop, whose end adds the ranks' metrics)."""

    def __init__(self, frames: Dataset, indices: list[int]) -> None:
        self.frames, self.indices, self.counted = frames, indices or [0], bool(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.frames[self.indices[i]], "counted": torch.tensor(self.counted)}


class _PoseData(L.LightningDataModule):
    """The training and validation frames as loaders for this rank (module docstring)."""

    def __init__(self, train_set: Dataset, val_set: Dataset | None, config: Config, seed: int) -> None:
        super().__init__()
        self.train_set, self.val_set, self.config, self.seed = train_set, val_set, config, seed
        dc = config.data
        self.common = {"num_workers": dc.num_workers, "persistent_workers": dc.num_workers > 0}

    def _batch(self) -> int:
        world = self.trainer.world_size if self.trainer is not None else 1
        batch = self.config.training.batch_size
        if batch % world:
            raise ValueError(f"training.batch_size: expected a multiple of the {world} devices, but got {batch}")
        return batch // world

    def steps_per_epoch(self, world: int) -> int:
        """Optimizer steps in a pass over the training frames (the loaders' batches per rank)."""
        per_rank = math.ceil(len(self.train_set) / world)  # DistributedSampler evens the ranks out
        batch = self.config.training.batch_size // world
        drop_last = len(self.train_set) >= 2 * self.config.training.batch_size
        return max(1, per_rank // batch if drop_last else math.ceil(per_rank / batch))

    def train_dataloader(self) -> DataLoader:
        world = self.trainer.world_size if self.trainer is not None else 1
        batch, n = self._batch(), len(self.train_set)
        drop_last = n >= 2 * self.config.training.batch_size
        if world == 1:
            return DataLoader(self.train_set, batch_size=batch, shuffle=True, drop_last=drop_last, **self.common)
        rank = self.trainer.global_rank
        sampler = DistributedSampler(self.train_set, world, rank, shuffle=True, seed=self.seed)
        return DataLoader(self.train_set, batch_size=batch, sampler=sampler, drop_last=drop_last, **self.common)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None
        world = self.trainer.world_size if self.trainer is not None else 1
        if world == 1:
            return DataLoader(self.val_set, batch_size=self.config.training.batch_size, shuffle=False, **self.common)
        indices = list(range(self.trainer.global_rank, len(self.val_set), world))
        return DataLoader(_Counted(self.val_set, indices), batch_size=self._batch(), shuffle=False, **self.common)


def _data(config: Config, data: LabeledData, split: dict[str, np.ndarray], seed: int) -> _PoseData:
    size = (config.model.height, config.model.width)
    geometry, cache = config.geometry, config.data.cache_images
    # The hand-labeled training frames and every pseudo-labeled frame (never validation).
    train_set = training_frames(data, split["train"], size, config.augment, geometry, cache=cache)
    val_set = None
    if len(split["val"]):
        val_set = PoseFrames(data, split["val"], size, augment=None, cache=cache, geometry=geometry)
    return _PoseData(train_set, val_set, config, seed)


class _StepProgressBar(TQDMProgressBar):
    """Training progress in optimizer steps of the whole run (``seed_0 steps: 120/400``), not epochs
    (a run bounded by ``max_steps`` has no last epoch to count to), on stderr like every message
    (stdout is for results)."""

    def init_train_tqdm(self) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_train_tqdm()

    def init_validation_tqdm(self) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_validation_tqdm()

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    @property
    def train_description(self) -> str:
        return f"{self.name} steps"

    def on_train_start(self, trainer: L.Trainer, *_: Any) -> None:
        self.train_progress_bar = self.init_train_tqdm()
        self.on_train_epoch_start(trainer)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the logger's version folder says nothing about the training
        return metrics

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        bar = self.train_progress_bar
        if bar.total != trainer.max_steps:
            bar.reset(total=trainer.max_steps)
            bar.n = bar.initial = trainer.global_step  # a resumed run starts where it stopped

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        bar = self.train_progress_bar
        if bar is not None and not bar.disable:
            bar.n = trainer.global_step
            bar.set_postfix(self.get_metrics(trainer, pl_module))
            bar.refresh()

    def on_train_epoch_end(self, *_: Any) -> None:
        pass  # one bar for the whole run

    def on_train_end(self, *_: Any) -> None:
        self.train_progress_bar.close()


# Lightning's messages that say nothing about this run (tips for its cloud products).
_NOISE = ("💡 Tip", "litlogger", "litmodels")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in _NOISE)


@contextlib.contextmanager
def _quiet_training() -> Iterator[None]:
    """Keeps out of the training output what hides what matters: Lightning's product tips, and
    warnings about the libraries' internals or about choices made here on purpose."""
    noise = _DropNoise()
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    loggers += [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("lightning")
    ]
    for logger in loggers:
        logger.addFilter(noise)
    try:
        with warnings.catch_warnings():
            # Lightning 2.6 calls a torch.utils._pytree API that torch 2.14 deprecates.
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
            # num_workers is a config choice (0 is right for small projects and CPU runs).
            warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
            # The last checkpoint is continued on purpose (--resume) and replaced on purpose; the
            # frames are drawn at random anyway, so resuming mid-epoch loses nothing.
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
            warnings.filterwarnings("ignore", message=r"You're resuming from a checkpoint that ended before the epoch")
            # Validation splits its frames between the ranks itself, without repeats (module docstring).
            warnings.filterwarnings("ignore", message=r".*`DistributedSampler`.*")
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(noise)


def _strategy(config: Config) -> Any:
    if _world_size(config) <= 1:
        return "auto"
    from lightning.pytorch.strategies import DDPStrategy

    # Ranks other than 0 wait at barriers while rank 0 alone predicts or smooths (lp3d pipeline).
    return DDPStrategy(timeout=timedelta(days=1))


def _fit_member(config: Config, data: LabeledData, split: dict[str, np.ndarray], seed: int, resume: bool) -> float:
    tc = config.training
    member_dir = Path(config.run_dir) / member_name(seed)
    ckpt_dir = member_dir / "checkpoints"
    L.seed_everything(seed, workers=True, verbose=False)
    module = _data(config, data, split, seed)
    steps_per_epoch = module.steps_per_epoch(_world_size(config))
    total = tc.max_steps if tc.max_steps is not None else tc.max_epochs * steps_per_epoch
    V, K = len(data.view_names), data.n_channels  # a channel per keypoint of each individual
    if config.model.init_checkpoint is not None:  # e.g. a distilled student starting from its teacher
        model = load_member(config.model.init_checkpoint, config, V, K).train()
    else:
        model = model_from_config(config, V, K)
    task = PoseTask(model, config, total, view_names=data.view_names)
    callbacks: list[L.Callback] = [
        ModelCheckpoint(ckpt_dir, filename="last", every_n_train_steps=tc.val_every_steps, enable_version_counter=False)
    ]
    validate = module.val_set is not None
    if validate:
        best = ModelCheckpoint(
            ckpt_dir, filename="best", monitor="val/pixel_error", mode="min", enable_version_counter=False
        )
        callbacks.append(best)
    if tc.progress_bar:
        callbacks.append(_StepProgressBar(member_name(seed)))
    last = ckpt_dir / "last.ckpt"
    with _quiet_training():  # Lightning's tips come from the Trainer's constructor too
        trainer = L.Trainer(
            accelerator=tc.accelerator,
            devices=tc.devices,
            strategy=_strategy(config),
            use_distributed_sampler=False,  # the data module splits the frames between the ranks
            precision=_precision(config),
            max_epochs=-1 if tc.max_steps is not None else tc.max_epochs,
            max_steps=total,
            max_time=timedelta(minutes=tc.max_minutes) if tc.max_minutes is not None else None,
            val_check_interval=min(tc.val_every_steps, total) if validate else None,
            check_val_every_n_epoch=None,
            limit_val_batches=None if validate else 0,
            num_sanity_val_steps=0,
            gradient_clip_val=tc.gradient_clip,
            callbacks=callbacks,
            logger=CSVLogger(member_dir, name="logs"),
            log_every_n_steps=max(1, min(tc.log_every_steps, total, steps_per_epoch)),
            enable_progress_bar=tc.progress_bar,
            enable_model_summary=False,
            default_root_dir=member_dir,
        )
        ckpt = str(last) if resume and last.is_file() else None
        trainer.fit(task, datamodule=module, ckpt_path=ckpt, weights_only=False)  # our own checkpoint
        trainer.save_checkpoint(last, weights_only=False)  # every rank takes part; rank 0 writes
    if not validate or best.best_model_score is None:
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
            evaluation removed (by rank 0 only: see :mod:`lp3d_models.distributed`).

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
    if overwrite and is_rank_zero():  # members of the old split and its evaluation go too
        for old in [*Path(config.run_dir).glob(member_name("*")), Path(config.run_dir) / EVALUATION_DIR]:
            shutil.rmtree(old, ignore_errors=True)
    errors = [_fit_member(config, data, split, seed, resume) for seed in seeds]
    run_dir = Path(config.run_dir)
    return TrainResult(run_dir, [run_dir / member_name(s) for s in seeds], errors, rank())
