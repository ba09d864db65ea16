"""Telling the user which camera disagrees: per (view, keypoint) disagreement as sentences.

Both :class:`lp3d_eks.SmootherResult` and :class:`lp3d_eks.RobustTriangulation` say, per view and
keypoint, how far a view's detections are from what the other views (and, for the smoother,
neighbouring frames) predict (``view_disagreement``, median pixels) and whether that
disagreement persists over the session (``inconsistent_views``). A view that disagrees on many
keypoints usually has a wrong calibration entry or mislabeled frames; one that disagrees on a
few keypoints, labels that mean something else for those keypoints in that view.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lp3d_eks.ensemble import _nanmedian_frames

__all__ = ["describe_inconsistent_views"]


def describe_inconsistent_views(
    result,
    view_names: Sequence[str],
    keypoint_names: Sequence[str],
    *,
    min_ratio: float = 2.0,
    max_keypoints: int = 6,
) -> list[str]:
    """One sentence per view that disagrees with the others, worst keypoints first.

    A (view, keypoint) is named when it is flagged (``inconsistent_views``) and its disagreement
    is at least ``min_ratio`` times the median disagreement of the other views on that keypoint
    (a statistically clear but small excess, e.g. 2 px where the others are at 1.5 px, is left
    out of the sentences; it stays in the arrays).

    Args:
        result: anything with ``view_disagreement`` and ``inconsistent_views``, both
            ``(view, keypoint)``: a :class:`lp3d_eks.SmootherResult` or a
            :class:`lp3d_eks.RobustTriangulation`.
        view_names: the views' (cameras') names, in order.
        keypoint_names: the keypoints' names, in order.
        min_ratio: how many times the other views' disagreement a view's must be to be named.
        max_keypoints: keypoints named per sentence (the rest are counted).

    Returns:
        Sentences like ``"cam2: median 41 px from the other views on nose (45 px), ear_l (41 px)
        and 1 more (3 of 15 keypoints): check its calibration or labels."``, in view order; empty
        when every view agrees.
    """
    disagreement = np.asarray(result.view_disagreement, dtype=np.float64)
    flagged = np.asarray(result.inconsistent_views, dtype=bool)
    V, K = flagged.shape
    if disagreement.shape != (V, K) or len(view_names) != V or len(keypoint_names) != K:
        raise ValueError(
            f"expected view_disagreement and inconsistent_views of shape (view, keypoint) = "
            f"({len(view_names)}, {len(keypoint_names)}), but got {disagreement.shape} and {flagged.shape}"
        )
    if V < 2:  # a single view has no others to disagree with
        return []
    # (V, K): the median over the other views (NaN where none saw the keypoint)
    others = np.stack([_nanmedian_frames(np.delete(disagreement, v, axis=0)[None])[0, 0] for v in range(V)])
    named = flagged & (disagreement >= min_ratio * others)  # NaN compares False
    sentences = []
    for v in range(V):
        ks = list(np.flatnonzero(named[v]))
        if not ks:
            continue
        ks.sort(key=lambda k: -disagreement[v, k])
        listed = ", ".join(f"{keypoint_names[k]} ({disagreement[v, k]:.0f} px)" for k in ks[:max_keypoints])
        more = f" and {len(ks) - max_keypoints} more" if len(ks) > max_keypoints else ""
        sentences.append(
            f"{view_names[v]}: median {np.median(disagreement[v, ks]):.0f} px from the other views on "
            f"{listed}{more} ({len(ks)} of {K} keypoints): check its calibration or labels."
        )
    return sentences
