import math

import pytest
import torch

from ddim_edu.data import digits_split, load_digits
from ddim_edu.metrics import (
    DigitsQuality,
    frechet_distance,
    kernel_inception_distance,
    mmd_rbf,
    sliced_wasserstein,
)


def normal(n, d, seed):
    return torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_under_a_shift():
    f = normal(2000, 16, 0)
    assert abs(frechet_distance(f, f)) < 1e-8
    shifts = [frechet_distance(f, f + s) for s in (0.1, 0.5, 1.0)]
    # a pure shift of every coordinate by s adds |shift|^2 = 16 s^2
    assert shifts == pytest.approx([16 * 0.01, 16 * 0.25, 16 * 1.0], rel=1e-6)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    a = normal(200_000, 3, 1) * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    b = normal(200_000, 3, 2) * torch.tensor([1.5, 1.0, 0.5], dtype=torch.float64) + 0.3
    exact = 3 * 0.09 + (1.0 - 1.5) ** 2 + (2.0 - 1.0) ** 2 + 0.0
    assert frechet_distance(a, b) == pytest.approx(exact, abs=0.02)


def test_kid_of_two_samples_of_one_distribution_averages_zero():
    mean, std = kernel_inception_distance(normal(1000, 8, 3), normal(1000, 8, 4), subsets=50)
    assert abs(mean) < 3 * std / math.sqrt(50) + 1e-4
    shifted, _ = kernel_inception_distance(normal(1000, 8, 3), normal(1000, 8, 4) + 0.5)
    assert shifted > 20 * abs(mean)


def test_sliced_wasserstein_of_a_translation():
    x = normal(3000, 2, 5)
    assert sliced_wasserstein(x, x) == 0.0
    delta = torch.tensor([0.3, -0.4], dtype=torch.float64)
    # SW_2 of a translation by delta in d dims: |delta| / sqrt(d)
    assert sliced_wasserstein(x, x + delta, n_projections=2000) == pytest.approx(
        0.5 / math.sqrt(2), rel=0.05
    )


def test_mmd_separates_shifted_samples():
    same = mmd_rbf(normal(800, 2, 6), normal(800, 2, 7))
    shifted = mmd_rbf(normal(800, 2, 6), normal(800, 2, 7) + 1.0)
    assert abs(same) < 0.01 and shifted > 0.1


@pytest.fixture(scope="module")
def quality():
    return DigitsQuality()


def test_real_digits_score_at_the_floor_and_noise_far_above(quality):
    x, _ = load_digits()
    real = quality(x)
    assert real.fid < 1.5 * real.fid_floor
    assert real.confident > 0.95 and real.class_tv < 0.03
    noise = quality(torch.rand(900, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert noise.fid > 50 * noise.fid_floor
    assert noise.kid > 100 * abs(real.kid_floor)
    line = noise.summary()  # every distance beside its floor, KID with its spread over subsets
    assert f"KID ({noise.kid * 1e3:+.2f} ± {noise.kid_std * 1e3:.2f})e-3" in line
    assert f"floor {noise.fid_floor:.3f}" in line and f"n = {noise.n}" in line


def test_the_floor_counts_class_count_noise(quality):
    # half B has A's class counts by construction; i.i.d. samples do not, and in this feature
    # space (ten separated clusters) that noise is most of an honest sample's digits-FID
    assert quality.fid_floor > 3 * quality.fid_floor_stratified
    values = torch.tensor(quality.floor_values(quality.chunk))
    assert len(values) == quality.floor_draws
    assert math.isclose(float(values.mean()), quality.fid_floor, rel_tol=1e-9)
    assert float((values < quality.fid_floor_stratified).double().mean()) < 0.02
    # B with one class's count moved by 2 standard deviations of a multinomial count (~18 of
    # ~90 images swapped for another class) is already several stratified floors away from A
    f, lb = quality.other, quality.other_labels
    keep = torch.cat([torch.nonzero(lb == 3).flatten()[18:], torch.nonzero(lb != 3).flatten()])
    extra = torch.nonzero(lb == 7).flatten()[:18]
    moved = frechet_distance(f[torch.cat([keep, extra])], quality.ref)
    assert moved > 2 * quality.fid_floor_stratified


def test_floor_depends_on_sample_size_and_chunks(quality):
    m = quality.chunk
    assert quality.floor_at(300) > 1.5 * quality.floor_at(m)  # FID's bias grows as n shrinks
    assert quality.floor_at(5 * m) == quality.floor_at(m)  # scored in chunks of m
    assert math.isclose(quality.floor_sd_at(4 * m), quality.floor_sd_at(m) / 2)
    # real sets of 300 drawn like a sampler draws score, on average, at the floor (one value is
    # skewed: 1 % of the floor's draws lie above 2x its mean at this size)
    real_b = load_digits()[0][digits_split(0.5, seed=0)[1]]
    scores = []
    for seed in range(11, 16):
        idx = quality.iid_real_indices(300, torch.Generator().manual_seed(seed))
        assert torch.bincount(idx, minlength=m).max() <= 3  # within a class: no replacement first
        scores.append(quality(real_b[idx]))
    assert scores[0].fid_floor == quality.floor_at(300)
    mean = sum(s.fid for s in scores) / len(scores)
    assert abs(mean - quality.floor_at(300)) < 3 * quality.floor_sd_at(300) / math.sqrt(5)


def test_class_tv_floor_matches_the_multinomial(quality):
    # E|count/n - p| ~ sqrt(p (1 - p) / n) sqrt(2 / pi) for each of ten classes, p ~ 0.1
    expected = 0.5 * 10 * math.sqrt(0.09 / 2000) * math.sqrt(2 / math.pi)
    assert abs(quality.class_tv_floor(2000) / expected - 1) < 0.1


def test_floor_arguments_are_checked(quality):
    with pytest.raises(ValueError, match="floor_draws must be an integer >= 2, got 1"):
        DigitsQuality(floor_draws=1)
    with pytest.raises(ValueError, match="n must be an integer >= 2, got 0"):
        quality.iid_real_indices(0, torch.Generator())


def test_kid_of_two_real_halves_is_near_zero(quality):
    # two disjoint halves of one finite set are slightly anti-correlated (what one half has more
    # of, the other has less of), so their unbiased KID sits a little below zero; measured
    # against what KID sees between real digits and noise it is ~0
    x, _ = load_digits()
    f = quality.features(x) / quality.scale
    noise = quality.features(
        torch.rand(900, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    )
    far, _ = kernel_inception_distance(noise / quality.scale, f)
    halves = []
    for seed in range(3):
        a, b = digits_split(0.5, seed=seed)
        halves.append(kernel_inception_distance(f[a], f[b], subsets=20)[0])
    mean = sum(halves) / len(halves)
    assert abs(mean) < 0.02 * far and mean <= 0.005, (halves, far)


def test_quality_rejects_wrong_shapes(quality):
    with pytest.raises(ValueError, match=r"samples must have shape \(N, 1, 8, 8\), got \(4, 64\)"):
        quality(torch.zeros(4, 64))


def test_quality_classes_live_in_quality_and_the_old_path_still_imports():
    from ddim_edu import metrics, quality

    assert metrics.DigitsQuality is quality.DigitsQuality
    assert metrics.ImageQuality is quality.ImageQuality
    with pytest.raises(AttributeError, match="no attribute 'NoSuchScore'"):
        metrics.NoSuchScore  # noqa: B018
