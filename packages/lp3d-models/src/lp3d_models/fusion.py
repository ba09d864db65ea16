"""Multi-view fusion: the tokens of every view go through the transformer together.

For images ``x[b, v]`` of size ``H x W`` (both divisible by the patch ``p``)::

    t[b, v] = PatchEmbed(x[b, v]) + pos(H / p, W / p) + e_view[v]         (h * w tokens, width D)
    z[b]    = Blocks(concat_v [prefix[v], t[b, v]])                       (V (P + h w) tokens)

``PatchEmbed`` and the blocks are the backbone's, shared by all views; ``pos`` is the backbone's
positional embedding interpolated (bicubic) to the token grid of this input size, so any square or
rectangular size works; ``e_view`` is a learned embedding per view; ``prefix[v]`` are the
backbone's class (and register) tokens, one set per view. A *joint* block attends across the
tokens of all views at once, so a keypoint hidden in one view can be inferred from the others;
the other blocks attend within each view, which costs less (attention grows with the square of
the number of tokens). By default every other block is joint, ending with the last: with 4 views
at 256 px this keeps fusion + heads within ~13% of the bare backbone's CPU time (all blocks joint:
~25%); list every block in ``joint_blocks`` for full joint attention.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer
from torch import nn

__all__ = ["MultiViewEncoder"]


class MultiViewEncoder(nn.Module):
    """A timm ViT whose blocks see the patch tokens of all views (see the module docstring).

    Args:
        backbone: a :class:`VisionTransformer` built with ``dynamic_img_size=True``
            (:func:`lp3d_models.backbone.build_backbone`).
        n_views: number of views ``V``.
        joint_blocks: indices of the blocks that attend across views (negative counts from the
            end); ``None``: every block.

    Attributes:
        patch_size: the patch side ``p`` in pixels.
        embed_dim: token width ``D``.
    """

    def __init__(self, backbone: VisionTransformer, n_views: int, joint_blocks: Sequence[int] | None = None) -> None:
        super().__init__()
        if n_views < 1:
            raise ValueError(f"n_views: expected at least 1, but got {n_views}")
        if not getattr(backbone, "dynamic_img_size", False) or backbone.pos_embed is None:
            raise ValueError("backbone: expected a timm ViT with a learned pos_embed built with dynamic_img_size=True")
        self.backbone = backbone
        self.n_views = n_views
        self.embed_dim = int(backbone.embed_dim)
        patch = backbone.patch_embed.patch_size
        if patch[0] != patch[1]:
            raise ValueError(f"backbone: expected square patches, but got {tuple(patch)}")
        self.patch_size = int(patch[0])
        depth = len(backbone.blocks)
        if joint_blocks is None:  # alternate per-view and cross-view blocks, the last one cross-view
            joint = set(range(depth - 1, -1, -2))
        else:
            bad = [i for i in joint_blocks if not -depth <= i < depth]
            if bad:
                raise ValueError(f"joint_blocks: expected block indices in [{-depth}, {depth}), but got {bad}")
            joint = {i % depth for i in joint_blocks}
        self.joint = [i in joint for i in range(depth)]
        self.view_embed = nn.Parameter(torch.zeros(n_views, 1, self.embed_dim))
        nn.init.trunc_normal_(self.view_embed, std=0.02)

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        """The token grid ``(h, w)`` of an ``height x width`` input.

        Raises:
            ValueError: a side not divisible by the patch.
        """
        p = self.patch_size
        if height % p or width % p or height < p or width < p:
            raise ValueError(f"image size: expected sides divisible by the patch {p}, but got {height} x {width}")
        return height // p, width // p

    def _prefix_and_pos(self, grid: tuple[int, int]) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Class/register tokens ``(1, P, D)`` (with their positional embedding) and the patch
        positional embedding ``(1, h * w, D)`` for the token grid ``grid``."""
        bb = self.backbone
        n_prefix = 0 if bb.no_embed_class else bb.num_prefix_tokens
        pos = resample_abs_pos_embed(
            bb.pos_embed, new_size=list(grid), old_size=list(bb.patch_embed.grid_size), num_prefix_tokens=n_prefix
        )
        tokens = [t for t in (bb.cls_token, bb.reg_token) if t is not None]
        prefix = torch.cat(tokens, dim=1) if tokens else None
        if prefix is not None and n_prefix:
            prefix = prefix + pos[:, :n_prefix]
        return prefix, pos[:, n_prefix:]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Encodes the views of each sample jointly.

        Args:
            images: normalized images ``(B, V, C, H, W)``; ``H`` and ``W`` divisible by the patch.

        Returns:
            Patch features ``(B, V, D, H / p, W / p)``.
        """
        B, V, C, H, W = images.shape
        if V != self.n_views:
            raise ValueError(f"images: expected {self.n_views} views, but got {V} (shape {tuple(images.shape)})")
        h, w = self.grid_size(H, W)
        bb = self.backbone
        x = bb.patch_embed(images.reshape(B * V, C, H, W))  # (B V, h, w, D)
        prefix, pos = self._prefix_and_pos((h, w))
        view = self.view_embed.to(x.dtype)  # (V, 1, D)
        x = x.reshape(B, V, h * w, self.embed_dim) + pos.unsqueeze(1) + view
        if prefix is not None:
            x = torch.cat([(prefix.unsqueeze(1) + view).expand(B, V, -1, -1), x], dim=2)
        n_tokens = x.shape[2]  # P + h w per view
        x = bb.norm_pre(bb.pos_drop(x.reshape(B * V, n_tokens, self.embed_dim)))
        for block, joint in zip(bb.blocks, self.joint, strict=True):
            if joint:
                x = block(x.reshape(B, V * n_tokens, self.embed_dim)).reshape(B * V, n_tokens, self.embed_dim)
            else:
                x = block(x)
        x = bb.norm(x)[:, n_tokens - h * w :]  # patch tokens only
        return x.reshape(B, V, h, w, self.embed_dim).permute(0, 1, 4, 2, 3)
