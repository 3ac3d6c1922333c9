"""28x28 MNIST: the shipped array, its split, the class-conditional UNet, guidance, training."""

import hashlib
import math

import numpy as np
import pytest
import torch

from ddim_edu.data import (
    ASSETS,
    MNIST_SHA256,
    get_dataset,
    load_mnist,
    mnist_levels,
    mnist_split,
)
from ddim_edu.guidance import ClassConditioned
from ddim_edu.models import NULL_CLASS, UNet, UNetConfig
from ddim_edu.train import TrainConfig, load_run, train, weights_digest

CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


# --- the shipped data ------------------------------------------------------------------------


def test_shipped_array_matches_its_recorded_checksum():
    with np.load(ASSETS / "mnist.npz", allow_pickle=False) as f:
        images, labels, recorded = f["images"], f["labels"], str(f["sha256"])
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert hashlib.sha256(images.tobytes()).hexdigest() == MNIST_SHA256 == recorded
    assert np.bincount(labels, minlength=10).tolist() == CLASS_COUNTS
    assert (ASSETS / "mnist.npz").stat().st_size < 2e6
    mnist_levels(verify=True)  # the loader's own check agrees


def test_split_is_fixed_stratified_and_disjoint():
    train_idx, test_idx = mnist_split()
    again_train, again_test = mnist_split()
    assert torch.equal(train_idx, again_train) and torch.equal(test_idx, again_test)
    assert (len(train_idx), len(test_idx)) == (8000, 2000)
    assert not set(train_idx.tolist()) & set(test_idx.tolist())
    _, labels = mnist_levels()
    held = torch.bincount(labels[test_idx], minlength=10).tolist()
    assert held == [round(0.2 * c) for c in CLASS_COUNTS]


@pytest.mark.parametrize(("split", "n"), [("train", 8000), ("test", 2000), ("all", 10000)])
def test_loading_gives_images_in_minus_one_one_with_their_labels(split, n):
    x, y = load_mnist(split)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (n,)
    assert x.min() == -1.0 and x.max() == 1.0
    # MNIST digits are white strokes on black: most pixels are background
    assert 0.7 < float((x == -1).float().mean()) < 0.9
    if split == "all":
        assert torch.bincount(y, minlength=10).tolist() == CLASS_COUNTS


def test_unknown_split_is_named():
    with pytest.raises(ValueError, match=r"split must be one of 'train', 'test', 'all', got 'val'"):
        load_mnist("val")


def test_training_set_draws_labelled_batches_of_the_training_split():
    data = get_dataset("mnist")
    assert data.num_classes == 10 and len(data) == 8000 and data.shape == (1, 28, 28)
    x, y = data.labeled_batch(64, torch.Generator().manual_seed(0))
    x2 = data.batch(64, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)  # batch() draws the same images
    train_x, train_y = load_mnist("train")
    # every drawn image is a training image, with its own label
    idx = [int(torch.nonzero((train_x == img).flatten(1).all(1))[0]) for img in x[:8]]
    assert train_y[idx].tolist() == y[:8].tolist()


# --- the class-conditional UNet and guidance --------------------------------------------------


@pytest.fixture(scope="module")
def cond_unet():
    torch.manual_seed(0)
    net = UNet(UNetConfig(image_size=28, base_channels=8, channel_mults=(1, 2, 4), num_classes=10))
    with torch.no_grad():  # the output conv starts at zero; give it weights so outputs differ
        net.conv_out.weight.normal_(0, 0.1)
    return net.eval()


def _inputs(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 1000, (n,), generator=g)


def test_class_labels_change_the_output_and_none_is_the_null_entry(cond_unet):
    x, t = _inputs()
    with torch.no_grad():
        a = cond_unet(x, t, torch.full((6,), 3))
        b = cond_unet(x, t, torch.full((6,), 8))
        null = cond_unet(x, t, torch.full((6,), NULL_CLASS))
        none = cond_unet(x, t)
    assert (a - b).abs().max() > 1e-3
    assert torch.equal(null, none)


def test_guidance_one_equals_the_conditional_output(cond_unet):
    x, t = _inputs()
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    with torch.no_grad():
        guided = ClassConditioned(cond_unet, y, guidance_scale=1.0)(x, t)
        plain = cond_unet(x, t, y)
    assert torch.equal(guided, plain)


def test_one_batched_call_equals_two_separate_calls(cond_unet):
    x, t = _inputs()
    calls = []
    hook = cond_unet.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            guided = ClassConditioned(cond_unet, 7, guidance_scale=3.0)(x, t)
    finally:
        hook.remove()
    assert calls == [12]  # one call, conditional and unconditional halves together
    with torch.no_grad():
        cond = cond_unet(x, t, torch.full((6,), 7))
        uncond = cond_unet(x, t)
    torch.testing.assert_close(guided, uncond + 3.0 * (cond - uncond), atol=1e-5, rtol=1e-5)


def test_unconditional_wrapper_is_the_null_output(cond_unet):
    x, t = _inputs()
    with torch.no_grad():
        assert torch.equal(ClassConditioned(cond_unet)(x, t), cond_unet(x, t))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (10, r"class_labels must be None, an int in 0..9.*10 is not a class"),
        (-1, r"class_labels must be None, an int in 0..9.*-1 is not a class"),
        ([1, 2, 12], r"class_labels must be .*12 is not a class"),
        ([1.5, 2], r"class_labels must be None, an int in 0..9"),
        ("3", r"class_labels must be None, an int in 0..9"),
        (torch.tensor([0.0, 1.0]), r"class_labels must be .* torch.float32 tensor"),
        (True, r"class_labels must be None, an int in 0..9"),
    ],
)
def test_unknown_classes_are_refused_by_name(cond_unet, labels, message):
    with pytest.raises(ValueError, match=message):
        ClassConditioned(cond_unet, labels)


def test_a_label_tensor_of_the_wrong_length_is_refused(cond_unet):
    x, t = _inputs(6)
    cond = ClassConditioned(cond_unet, [1, 2, 3])
    with pytest.raises(ValueError, match=r"class_labels has 3 labels but the batch has 6 images"):
        cond(x, t)
    with pytest.raises(ValueError, match=r"y must have shape \(6,\), one label per image"):
        cond_unet(x, t, torch.tensor([1, 2, 3]))


@pytest.mark.parametrize("w", [math.nan, math.inf, "2", None, True])
def test_a_guidance_scale_that_is_not_a_finite_number_is_refused(cond_unet, w):
    with pytest.raises(ValueError, match=r"guidance_scale must be a finite number"):
        ClassConditioned(cond_unet, 3, guidance_scale=w)


def test_unconditional_networks_refuse_labels():
    net = UNet(UNetConfig(image_size=8, base_channels=8))
    with pytest.raises(ValueError, match=r"model is not class-conditional"):
        ClassConditioned(net, 3)
    with pytest.raises(ValueError, match=r"y \(class labels\) given to an unconditional UNet"):
        net(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long), torch.zeros(2).long())


# --- training --------------------------------------------------------------------------------


def _cfg(out, steps, **kw):
    options = dict(
        data="mnist",
        conditional=True,
        width=8,
        channel_mults=(1, 2),
        res_blocks=1,
        attention=False,
        batch_size=16,
        steps=steps,
        lr=2e-3,
        warmup=20,
        checkpoint_every=steps,
        log_every=min(10, steps),
        out=str(out),
    )
    return TrainConfig(**{**options, **kw})


@pytest.mark.slow
def test_a_short_conditional_run_lowers_the_loss_on_mnist(tmp_path):
    meta = train(_cfg(tmp_path / "run", 200), progress=False)
    first = np.mean([loss for _, loss in meta["history"][:2]])
    last = np.mean([loss for _, loss in meta["history"][-3:]])
    assert first > 0.5 and last < 0.5 * first, (first, last)
    model = load_run(tmp_path / "run")
    assert model.config.num_classes == 10 and model.config.image_size == 28


def test_conditional_training_resumes_exactly(tmp_path):
    train(_cfg(tmp_path / "straight", 20, label_dropout=0.3), progress=False)
    train(_cfg(tmp_path / "resumed", 10, label_dropout=0.3), progress=False)
    train(_cfg(tmp_path / "resumed", 20, label_dropout=0.3), progress=False)
    a = load_run(tmp_path / "straight", weights="model")
    b = load_run(tmp_path / "resumed", weights="model")
    assert weights_digest(a) == weights_digest(b)


def test_conditional_needs_labelled_images():
    with pytest.raises(
        ValueError, match=r"conditional needs labelled images .* 'digits' has no labels"
    ):
        train(TrainConfig(data="digits", conditional=True, steps=1), progress=False)


def test_label_dropout_is_checked():
    with pytest.raises(ValueError, match=r"label_dropout must lie in \[0, 1\), got 1.5"):
        TrainConfig(data="mnist", conditional=True, label_dropout=1.5)


def test_a_run_continues_from_exported_weights_and_records_the_chain(tmp_path):
    from ddim_edu import pretrained

    train(_cfg(tmp_path / "first", 10), progress=False, command="python -m ddim_edu train FIRST")
    entry = pretrained.export(tmp_path / "first", "tiny", folder=tmp_path / "weights")
    exported = pretrained.load("tiny", folder=tmp_path / "weights")
    cfg = _cfg(
        tmp_path / "second", 1, init_from=str(tmp_path / "weights" / entry["file"]), lr=1e-12
    )
    meta = train(cfg, progress=False, command="python -m ddim_edu train SECOND")
    assert [link["command"] for link in meta["chain"]] == ["python -m ddim_edu train FIRST"]
    second = load_run(tmp_path / "second", weights="model")
    diff = max((a - b).abs().max() for a, b in zip(second.parameters(), exported.parameters()))
    assert diff < 1e-6  # one step at lr 1e-12 from the exported weights
    again = pretrained.export(tmp_path / "second", "tiny2", folder=tmp_path / "weights")
    assert [link["command"] for link in again["chain"]] == ["python -m ddim_edu train FIRST"]
    assert again["command"] == "python -m ddim_edu train SECOND"


def test_init_from_refuses_another_model_and_a_missing_source(tmp_path):
    with pytest.raises(ValueError, match=r"init_from 'digits' has model .* but this run builds"):
        train(_cfg(tmp_path / "x", 1, init_from="digits"), progress=False)
    with pytest.raises(ValueError, match=r"init_from must be a shipped model .* got 'nowhere.st'"):
        train(_cfg(tmp_path / "y", 1, init_from="nowhere.st"), progress=False)


# --- MNIST-FID ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_quality():
    from ddim_edu.quality import DigitsQuality

    return DigitsQuality(data="mnist", floor_draws=20)


@pytest.mark.slow
def test_mnist_fid_reference_is_the_training_split_and_the_floor_the_held_out_one(mnist_quality):
    q = mnist_quality
    assert q.metric == "MNIST-FID" and q.chunk == 2000 and q.ref.shape == (8000, 64)
    # real held-out digits drawn like a sampler draws score at the floor, by construction ...
    x_test, y_test = load_mnist("test")
    gen = torch.Generator().manual_seed(1)
    honest = q(x_test[q.iid_real_indices(2000, gen)])
    assert 0.4 < honest.fid / q.fid_floor < 2.0
    assert honest.confident > 0.95 and honest.class_tv < 0.05
    # ... and blurred digits far above it
    blurred = torch.nn.functional.avg_pool2d(x_test, 3, 1, 1)
    assert q(blurred).fid > 5 * q.fid_floor
    assert q.class_accuracy(x_test, y_test) > 0.985
    with pytest.raises(
        ValueError, match=r"samples must have shape \(N, 1, 28, 28\), got \(2, 1, 8, 8\)"
    ):
        q(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"labels must hold one label per sample \(2000\)"):
        q.class_accuracy(x_test, y_test[:5])


def test_unknown_quality_data_is_named():
    from ddim_edu.quality import DigitsQuality

    with pytest.raises(ValueError, match=r"data must be 'digits' or 'mnist', got 'cifar'"):
        DigitsQuality(data="cifar")


@pytest.mark.slow
def test_the_sweep_scores_mnist_with_mnist_fid():
    from ddim_edu.sweep import make_target

    target = make_target("mnist", n=100)
    assert target.metric == "MNIST-FID" and target.shape == (1, 28, 28)
    x_test, _ = load_mnist("test")  # ordered by class: take a random 500
    real = target.score(
        x_test[torch.randperm(2000, generator=torch.Generator().manual_seed(0))[:500]]
    )["value"]
    noise = target.score(torch.rand(500, 1, 28, 28) * 2 - 1)["value"]
    floor, m = target.floor(500)
    assert m == 500 and real < 3 * floor < noise


def test_labels_drawn_with_the_training_frequencies_are_seeded():
    from ddim_edu.data import mnist_labels

    _, y = load_mnist("train")
    a, b = mnist_labels(20_000, 1000), mnist_labels(20_000, 1000)
    assert torch.equal(a, b) and not torch.equal(a, mnist_labels(20_000, 1001))
    freq = torch.bincount(y, minlength=10).double() / len(y)
    drawn = torch.bincount(a, minlength=10).double() / len(a)
    assert (drawn - freq).abs().max() < 0.01  # multinomial sd at 20,000 draws: about 0.002
    # the labels the stored MNIST records were sampled with (x_T seed 0: generator 1000)
    gen = torch.Generator().manual_seed(1000)
    old = torch.multinomial(freq, 1000, replacement=True, generator=gen)
    assert torch.equal(mnist_labels(1000, 1000), old)
