"""Patch masking: simulated occlusion during training, so the model learns to use the other views.

At training step ``t`` a share ``r(t)`` of the patches of each view is hidden (set to the mean
image colour, i.e. zero after normalization), chosen at random and independently for every
sample and view::

    r(t) = r0 + (r1 - r0) clip((t - t0) / (t1 - t0), 0, 1)

``r0 = initial``, ``r1 = final``, ``t0 = start_step``, ``t1 = end_step``. Exactly
``round(r(t) N)`` of the ``N`` patches of a view are hidden. Masking is applied by the training
step only; validation and inference see whole images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["MaskingSchedule", "random_patch_mask", "hide_patches"]


@dataclass(frozen=True)
class MaskingSchedule:
    """The masking ratio over training steps (see the module docstring).

    Attributes:
        initial: ratio at and before ``start_step``, in ``[0, 1)``.
        final: ratio at and after ``end_step``, in ``[0, 1)``.
        start_step: first step of the ramp.
        end_step: last step of the ramp (``>= start_step``).
    """

    initial: float = 0.0
    final: float = 0.0
    start_step: int = 0
    end_step: int = 0

    def __post_init__(self) -> None:
        for name in ("initial", "final"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"masking.{name}: expected a ratio in [0, 1), but got {value}")
        if self.start_step < 0 or self.end_step < self.start_step:
            raise ValueError(
                f"masking: expected 0 <= start_step <= end_step, but got {self.start_step} and {self.end_step}"
            )

    @property
    def enabled(self) -> bool:
        """Whether any patch is ever hidden."""
        return self.initial > 0 or self.final > 0

    def ratio(self, step: int) -> float:
        """The masking ratio ``r(step)``."""
        if self.end_step == self.start_step:
            return self.final if step >= self.end_step else self.initial
        frac = min(max((step - self.start_step) / (self.end_step - self.start_step), 0.0), 1.0)
        return self.initial + (self.final - self.initial) * frac


def random_patch_mask(
    batch: int,
    views: int,
    grid: tuple[int, int],
    ratio: float,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Which patches to hide: ``round(ratio * h * w)`` per sample and view, chosen uniformly.

    Args:
        batch, views: ``B`` and ``V``.
        grid: the token grid ``(h, w)``.
        ratio: share of patches to hide, in ``[0, 1)``.
        generator: random generator (on ``device``).
        device: where to make the mask.

    Returns:
        ``(B, V, h, w)`` bool, True for a hidden patch.
    """
    h, w = grid
    n = h * w
    n_hidden = int(round(ratio * n))
    scores = torch.rand(batch, views, n, generator=generator, device=device)
    # The n_hidden smallest scores of each (sample, view): a uniform random subset.
    rank = scores.argsort(-1).argsort(-1)
    return (rank < n_hidden).reshape(batch, views, h, w)


def hide_patches(images: torch.Tensor, mask: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Sets the hidden patches of normalized images to zero (the mean colour).

    Args:
        images: ``(B, V, C, H, W)`` normalized images.
        mask: ``(B, V, H / p, W / p)`` bool, True where hidden.
        patch_size: ``p``.

    Returns:
        A masked copy of ``images``.
    """
    pixels = mask.repeat_interleave(patch_size, dim=-2).repeat_interleave(patch_size, dim=-1)
    if pixels.shape[-2:] != images.shape[-2:]:
        raise ValueError(
            f"mask: expected a grid of {tuple(images.shape[-2:])} / {patch_size}, but got {tuple(mask.shape[-2:])}"
        )
    return images.masked_fill(pixels.unsqueeze(2), 0.0)
