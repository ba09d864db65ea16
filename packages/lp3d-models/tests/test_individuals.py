"""Several animals of fixed identity: channels per individual, labels with absent animals, the 3D
augmentation and frame selection per individual, pseudo-labels, identity swaps, and a tiny model
trained on two synthetic animals (checked against the generator's truth)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from lp3d_io.synthetic import SyntheticConfig, make_session, write_session
from lp3d_models.config import DataConfig, GeometryConfig, load_config
from lp3d_models.data import PoseFrames, read_project
from lp3d_models.evaluation import BASELINE, ENSEMBLE, identity_swaps, score_individuals
from lp3d_models.frame_selection import SmoothedSession, candidate_frames
from lp3d_models.individuals import from_channels, to_channels
from lp3d_models.losses import heatmap_loss

pytestmark = [
    # Lightning 2.6 calls a torch.utils._pytree API that torch 2.14 deprecates.
    pytest.mark.filterwarnings(r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"),
]

TOL = 1e-5
PAIR = SyntheticConfig(n_views=2, image_size=(64, 64), n_frames=80, seed=1, n_animals=2)
LABELED = 60
ABSENT = (2, 5, 9)  # label rows without the dark animal


@pytest.fixture(scope="module")
def pair():
    return make_session(PAIR)


@pytest.fixture(scope="module")
def pair_project(pair, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two-animal session in the Lightning Pose layout; the dark one unlabeled in rows ``ABSENT``."""
    from lp3d_io import from_pose_csv, to_pose_csv

    root = tmp_path_factory.mktemp("pair")
    write_session(pair, root, labeled_frames=LABELED)
    for view in pair.view_names:
        table = from_pose_csv(root / f"CollectedData_{view}.csv")
        position = table.position[..., :2].copy()
        position[list(ABSENT), :, 1] = np.nan
        to_pose_csv(replace(table, position=position), root / f"CollectedData_{view}.csv")
    return root


def _labeled_truth(pair) -> np.ndarray:
    """The generator's pixels of the labeled rows ``(view, row, keypoint, individual, 2)``, NaN outside
    the image and for the absent animal."""
    frames = np.unique(np.rint(np.linspace(0, PAIR.n_frames - 1, LABELED)).astype(int))
    truth = pair.points2d[:, frames].copy()
    inside = ((truth >= -0.5) & (truth < np.array(PAIR.image_size) - 0.5)).all(-1)
    truth[~inside] = np.nan
    truth[:, list(ABSENT), :, 1] = np.nan
    return truth


def test_channels_are_individual_major_and_round_trip():
    values = np.random.default_rng(0).normal(size=(3, 5, 4, 2, 2))  # (view, time, keypoint, individual, xy)
    channels = to_channels(values, axis=2)
    assert channels.shape == (3, 5, 8, 2)
    for i, k in itertools.product(range(2), range(4)):
        np.testing.assert_array_equal(channels[:, :, i * 4 + k], values[:, :, k, i])
    np.testing.assert_array_equal(from_channels(channels, 2, axis=2), values)
    with pytest.raises(ValueError, match="expected a multiple of the 3 individuals, but got 8"):
        from_channels(channels, 3, axis=2)


def test_identity_swaps_are_the_assignments_closer_than_the_identity():
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.0, 100.0, size=(4, 6, 5, 3, 2))  # (view, frame, keypoint, individual, xy)
    estimate = truth + rng.normal(scale=0.5, size=truth.shape)
    estimate[1, 2] = estimate[1, 2][:, [1, 0, 2]]  # one view of one frame: the first two swapped
    estimate[3, 4] = estimate[3, 4][:, [2, 0, 1]]  # a cycle of three
    truth[0, 0, :, 1:] = np.nan  # one animal labeled: nothing to swap with
    truth[2, 3, :2, 2] = np.nan  # the third partly labeled: scored on the keypoints all three have
    swapped, scored = identity_swaps(estimate, truth)
    expect = np.zeros((4, 6), dtype=bool)
    expect[1, 2] = expect[3, 4] = True
    np.testing.assert_array_equal(swapped, expect)
    assert not scored[0, 0] and scored.sum() == 4 * 6 - 1
    rows = score_individuals("x", estimate[..., :2, :], truth[..., :2, :], ["a", "b"])
    assert [r.individual for r in rows] == ["all", "a", "b"]
    assert rows[0].swap_rate == pytest.approx(2 / 23) and np.isnan(rows[1].swap_rate)  # both frames swap 0 and 1
    (one,) = score_individuals("x", estimate[..., :1, :], truth[..., :1, :], ["a"])
    assert one.individual == "" and one.n == rows[1].n


def test_labels_of_two_animals_load_per_individual_and_an_absent_one_counts_for_nothing(pair, pair_project):
    data = read_project(pair_project)
    assert data.individual_names == ["light", "dark"] and data.n_channels == 22
    np.testing.assert_allclose(from_channels(data.keypoints, 2, axis=2), _labeled_truth(pair), atol=1e-3)
    frames = PoseFrames(data, np.array(ABSENT[:2] + (10,)), (64, 64))
    batch = torch.utils.data.default_collate([frames[i] for i in range(3)])
    weights = batch["weights"].numpy()  # (sample, view, channel)
    assert (weights[:2, :, 11:] == 0).all() and (weights[2, :, 11:] > 0).any()
    heatmaps = torch.randn(3, 2, 22, 16, 16, generator=torch.Generator().manual_seed(0))
    loss = heatmap_loss(heatmaps, batch["keypoints"], batch["weights"], stride=4, sigma=1.25, kind="kl")
    # the same loss without the absent animal's channels: nothing of it counts
    keep = [(s, c) for s in range(3) for c in range(22) if s == 2 or c < 11]
    terms = [
        heatmap_loss(
            heatmaps[s, :, c][None, :, None],
            batch["keypoints"][s, :, c][None, :, None],
            batch["weights"][s, :, c][None, :, None],
            stride=4,
            sigma=1.25,
            kind="kl",
        )
        * batch["weights"][s, :, c].sum()
        for s, c in keep
    ]
    expect = torch.stack(terms).sum() / batch["weights"].sum()
    torch.testing.assert_close(loss, expect, atol=TOL, rtol=TOL)


def test_3d_augmentation_moves_both_animals_by_one_similarity(pair, pair_project):
    from lp3d_models.augment_3d import augment_3d

    data = read_project(pair_project)
    rig = pair.rig
    frame = 20
    points = data.keypoints[:, frame].astype(np.float64)  # (view, channel, 2)
    weights = np.isfinite(points).all(-1).astype(np.float64)
    config = GeometryConfig(enabled=True, rotation=20.0, scale=0.1, translation=0.1)
    moved = augment_3d(
        points, weights, rig, np.array([PAIR.image_size] * 2, float), np.random.default_rng(3), config,
        np.array([0.0, 0.0, 1.0]), np.full(2, 50.0),
    )  # fmt: skip
    assert moved is not None
    before, after = rig.triangulate(points), rig.triangulate(moved.keypoints)
    both = np.isfinite(before).all(-1) & np.isfinite(after).all(-1)
    assert both[:11].sum() >= 3 and both[11:].sum() >= 3  # points of both animals
    i, j = np.triu_indices(int(both.sum()), k=1)
    d0 = np.linalg.norm(before[both][i] - before[both][j], axis=-1)
    d1 = np.linalg.norm(after[both][i] - after[both][j], axis=-1)
    ratio = d1 / d0  # within an animal and between the two: one scale
    assert ratio.std() < 1e-6 * ratio.mean() and abs(ratio.mean() - 1.0) <= 0.1 + 1e-9


def _smoothed(n_frames: int = 40) -> SmoothedSession:
    """Two animals of two keypoints in two views: the light one certain everywhere, the dark one
    uncertain in frames 0-9, where the light one is so certain that the frame's mean is the lowest."""
    rng = np.random.default_rng(2)
    reprojection = rng.uniform(10.0, 50.0, size=(2, n_frames, 4, 2))
    variance = np.ones((2, n_frames, 4, 2))
    variance[:, :10, :2] = 0.01  # light, frames 0-9
    variance[:, :10, 2:] = 1.5  # dark, frames 0-9
    variance[:, 10:, :] = rng.uniform(0.8, 1.2, size=(2, n_frames - 10, 1, 1))
    return SmoothedSession(
        name="s",
        view_names=["cam0", "cam1"],
        keypoint_names=["k0", "k1"],
        frames=np.arange(n_frames),
        reprojection=reprojection,
        reprojection_variance=variance,
        inflated=np.zeros((2, n_frames, 4), dtype=bool),
        individual_names=["light", "dark"],
    )


def test_candidate_frames_need_every_animal_confident():
    session = _smoothed()
    assert session.reprojection_variance[:, :10].mean() < session.reprojection_variance[:, 10:].mean()
    ok = candidate_frames(session, 0.5)
    assert not ok[:10].any()  # the dark animal is uncertain there
    light, dark = (session.reprojection_variance[:, :, c].mean(axis=(0, 2, 3)) for c in (slice(0, 2), slice(2, 4)))
    np.testing.assert_array_equal(ok, (light <= np.quantile(light, 0.5)) & (dark <= np.quantile(dark, 0.5)))


def test_pseudo_labels_of_two_animals_round_trip(pair, pair_project, tmp_path):
    from lp3d_models.pseudo_labels import read_pseudo_labels, write_pseudo_labels

    truth = to_channels(pair.points2d, axis=2)  # (view, time, channel, 2)
    variance = np.full(truth.shape, 2.0)
    variance[:, 7, 11:] = 50.0  # the dark animal uncertain at frame 7
    smoothed = SmoothedSession(
        name="synthetic",
        view_names=pair.view_names,
        keypoint_names=pair.keypoint_names,
        frames=np.arange(PAIR.n_frames),
        reprojection=truth,
        reprojection_variance=variance,
        inflated=np.zeros(truth.shape[:3], dtype=bool),
        videos={v: pair_project / "videos" / f"synthetic_{v}.mp4" for v in pair.view_names},
        rig=pair.rig,
        individual_names=pair.individual_names,
    )
    out = tmp_path / "pseudo"
    assert write_pseudo_labels(out, [smoothed], {"synthetic": np.array([3, 7])}) == 2
    data = read_project(pair_project)
    pseudo = read_pseudo_labels(out, data, DataConfig(root=str(pair_project)), cameras=False)
    assert pseudo.individual_names == ["light", "dark"]
    inside = np.isfinite(pseudo.keypoints).all(-1)
    np.testing.assert_allclose(pseudo.keypoints[inside], truth[:, [3, 7]][inside], atol=1e-3)
    w = pseudo.weights  # (view, frame, channel)
    assert w[:, 1, 11:][inside[:, 1, 11:]].max() < w[:, 1, :11][inside[:, 1, :11]].min()


@pytest.fixture(scope="module")
def pair_run(pair_project, tmp_path_factory: pytest.TempPathFactory, tiny) -> Path:
    from lp3d_models.training import train

    run_dir = tmp_path_factory.mktemp("pair-run") / "run"
    overrides = tiny(
        run_dir,
        f"data.root={pair_project}",
        "data.val_fraction=0.1",
        "data.test_fraction=0.2",
        "loss.kind=kl",
        "training.max_steps=200",
        "training.lr=0.002",
        "training.val_every_steps=60",
        "geometry.enabled=true",
    )
    train(load_config(None, overrides))
    return run_dir


@pytest.mark.slow
def test_tiny_model_on_two_animals_beats_the_mean_pose_per_individual_and_follows_each(pair, pair_project, pair_run):
    from lp3d_io import read_group
    from lp3d_models.evaluation import evaluate
    from lp3d_models.prediction import predict_videos

    result = evaluate(pair_run, write=False)
    for individual in ("light", "dark"):
        assert result.overall(ENSEMBLE, individual) < 0.7 * result.overall(BASELINE, individual)
    assert result.identity is not None and result.swap_rate(ENSEMBLE) < result.swap_rate(BASELINE)
    videos = [pair_project / "videos" / f"synthetic_{v}.mp4" for v in pair.view_names]
    store = predict_videos(pair_run, videos, pair_run.parent / "pair.zarr", progress=False, export_csv=True)
    ds = read_group(store.store, store.group)
    assert list(ds["individual"].values) == ["light", "dark"]
    with open(store.csv_files[("seed_0", "cam0")]) as f:
        assert f.readlines()[1].split(",")[:2] == ["individuals", "light"]
    position = ds["position"].transpose("member", "view", "time", "keypoint", "individual", "space").values[0]
    truth = pair.points2d  # each animal's predictions follow that animal (identity by appearance) ...
    own = np.nanmean(np.linalg.norm(position - truth, axis=-1), axis=2)  # (view, time, individual)
    other = np.nanmean(np.linalg.norm(position - truth[..., ::-1, :], axis=-1), axis=2)
    assert (own < other).mean() > 0.8  # ... in every frame of the videos, against the generator's truth
