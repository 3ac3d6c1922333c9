import numpy as np
import PIL.Image
import pytest
import torch

from ddim_edu import DDIMPipeline, save_image_grid
from ddim_edu.models import UNet
from ddim_edu.pipeline import image_grid
from ddim_edu.schedule import linear_schedule


@pytest.fixture(scope="module")
def rgb_pipe():
    torch.manual_seed(0)
    model = UNet(in_channels=3, base_channels=16, attention=False)
    torch.nn.init.normal_(model.conv_out.weight, std=0.05)
    return DDIMPipeline(model, schedule=linear_schedule())


def test_pipeline_returns_bchw_in_minus_one_to_one_and_repeats_with_a_seed(rgb_pipe):
    a = rgb_pipe(
        batch_size=3,
        generator=torch.Generator().manual_seed(1),
        num_inference_steps=5,
        progress=False,
    )
    b = rgb_pipe(batch_size=3, generator=1, num_inference_steps=5, progress=False)
    assert a.shape == (3, 3, 8, 8) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b)
    c = rgb_pipe(
        batch_size=3,
        generator=1,
        num_inference_steps=5,
        eta=1.0,
        timestep_spacing="trailing",
        progress=False,
    )
    assert not torch.equal(a, c)


def test_model_card_post_processing_works_as_written(rgb_pipe, tmp_path):
    image = rgb_pipe(eta=0.0, num_inference_steps=5, progress=False)
    # the lines of the DDIM model card, unchanged
    image_processed = image.cpu().permute(0, 2, 3, 1)
    image_processed = (image_processed + 1.0) * 127.5
    image_processed = image_processed.numpy().astype(np.uint8)
    image_pil = PIL.Image.fromarray(image_processed[0])
    image_pil.save(tmp_path / "test.png")
    assert PIL.Image.open(tmp_path / "test.png").size == (8, 8)


def test_shipped_digits_pipeline_gives_grayscale_images(tmp_path):
    pipe = DDIMPipeline.from_pretrained("digits")
    image = pipe(eta=0.0, num_inference_steps=10, generator=0, progress=False)
    assert image.shape == (1, 1, 8, 8)
    processed = ((image.permute(0, 2, 3, 1) + 1.0) * 127.5).numpy().astype(np.uint8)
    PIL.Image.fromarray(processed[0, ..., 0]).save(tmp_path / "digit.png")  # channel axis dropped
    assert np.asarray(PIL.Image.open(tmp_path / "digit.png")).shape == (8, 8)


def test_image_grid_layout_and_file(tmp_path):
    images = torch.linspace(-1, 1, 10).view(10, 1, 1, 1).expand(10, 1, 8, 8)
    grid = image_grid(images, nrow=5)
    assert grid.shape == (2 * 33 + 1, 5 * 33 + 1) and grid.dtype == np.uint8
    assert grid[1, 1] == 0 and grid[1 + 33, 1 + 4 * 33] == 255  # first black, last white
    path = save_image_grid(images, tmp_path / "grid.png", nrow=5)
    assert PIL.Image.open(path).size == (5 * 33 + 1, 2 * 33 + 1)
    rgb = image_grid(torch.zeros(4, 3, 8, 8), scale=2)
    assert rgb.shape == (2 * 17 + 1, 2 * 17 + 1, 3)


def test_pipeline_bad_input(rgb_pipe):
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        rgb_pipe(batch_size=0)
    for bad in (0, 2000, 50.0):
        with pytest.raises(
            ValueError,
            match=rf"num_inference_steps must be an integer in \[1, 1000\] \(at most T\), got {bad}",
        ):
            rgb_pipe(num_inference_steps=bad)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1 or 3, H, W\)"):
        image_grid(torch.zeros(2, 2, 8, 8))


def test_pipeline_leaves_2d_points_unclamped_and_images_in_range():
    pipe = DDIMPipeline.from_pretrained("mlp_swissroll")
    points = pipe(batch_size=2000, generator=0, num_inference_steps=50, progress=False)
    assert points.shape == (2000, 2)
    outside = (points.abs() > 1).any(1).double().mean().item()
    assert outside > 0.15  # the swiss roll reaches beyond [-1, 1] (about 30 % of real points do)
    assert (points.abs() == 1).sum() == 0  # nothing piled up on the edge of a box
    with pytest.raises(ValueError, match="clip must be a number > 0, None or 'auto', got 'yes'"):
        pipe(batch_size=2, clip="yes", progress=False)


def test_pipeline_runs_a_network_converted_to_float64():
    from ddim_edu.pretrained import load

    kw = {"batch_size": 4, "generator": 0, "num_inference_steps": 10, "progress": False}
    ref = DDIMPipeline(load("digits"))(**kw)
    got = DDIMPipeline(load("digits").double())(**kw)  # x_T is float32; the network float64
    assert got.dtype == torch.float32
    assert float((got - ref).abs().max()) < 1e-5


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
UNAVAILABLE = r"device 'cuda' is not available to this torch .*; available: cpu"


@NO_CUDA
def test_a_device_this_torch_cannot_use_is_refused_by_name(rgb_pipe):
    from ddim_edu.quality import DigitsQuality
    from ddim_edu.widgets import DigitsView

    with pytest.raises(ValueError, match=UNAVAILABLE):
        DDIMPipeline.from_pretrained("digits", device="cuda")
    with pytest.raises(ValueError, match=UNAVAILABLE):
        rgb_pipe(num_inference_steps=2, device="cuda", progress=False)
    with pytest.raises(ValueError, match=UNAVAILABLE):
        DigitsQuality(device="cuda")
    with pytest.raises(ValueError, match=UNAVAILABLE):
        DigitsView(n=4, device=torch.device("cuda"))
    assert next(rgb_pipe.model.parameters()).device.type == "cpu"  # the model stayed put


def test_a_cuda_index_beyond_the_devices_is_refused():
    with pytest.raises(ValueError, match=r"device 'cuda:99' is not available to this torch"):
        DDIMPipeline.from_pretrained("digits", device="cuda:99")


@pytest.fixture(scope="module")
def mnist_pipe():
    return DDIMPipeline.from_pretrained("mnist")


@pytest.mark.parametrize(
    ("labels", "n"), [(None, 3), (7, 3), ([0, 4, 9], 3), (torch.tensor([1, 2, 3, 5]), 4)]
)
def test_mnist_pipeline_shape_range_and_seed_for_every_kind_of_label(mnist_pipe, labels, n):
    kw = dict(generator=0, num_inference_steps=4, progress=False, class_labels=labels)
    a = mnist_pipe(batch_size=n, **kw)
    b = mnist_pipe(batch_size=n, **kw)
    assert a.shape == (n, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b)
    if not isinstance(labels, int) and labels is not None:
        assert torch.equal(mnist_pipe(**kw), a)  # batch_size defaults to the number of labels


def test_mnist_pipeline_guidance_changes_the_images_and_labels_matter(mnist_pipe):
    kw = dict(batch_size=2, generator=3, num_inference_steps=4, progress=False)
    plain = mnist_pipe(class_labels=3, **kw)
    guided = mnist_pipe(class_labels=3, guidance_scale=3.0, **kw)
    other = mnist_pipe(class_labels=8, **kw)
    uncond = mnist_pipe(**kw)
    assert (plain - guided).abs().max() > 0.05
    assert (plain - other).abs().max() > 0.05
    assert (plain - uncond).abs().max() > 0.05


def test_mnist_pipeline_equals_the_plain_sampler(mnist_pipe):
    from ddim_edu.guidance import ClassConditioned
    from ddim_edu.sampling import ddim_sample
    from ddim_edu.schedule import timesteps

    fast = mnist_pipe(batch_size=2, generator=5, num_inference_steps=6, eta=0.5, progress=False,
                      class_labels=[2, 6], guidance_scale=2.0)  # fmt: skip
    gen = torch.Generator().manual_seed(5)  # x_T first, then the noise, as the pipeline draws
    x_T = torch.randn((2, 1, 28, 28), generator=gen)  # noqa: N806
    model = ClassConditioned(mnist_pipe.model, [2, 6], guidance_scale=2.0)
    plain = ddim_sample(model, x_T, mnist_pipe.schedule, timesteps(6), 0.5, clip=1.0,
                        generator=gen, progress=False).clamp(-1, 1)  # fmt: skip
    assert (fast - plain).abs().max() < 1e-4


def test_mnist_pipeline_bad_labels_and_guidance(mnist_pipe):
    with pytest.raises(ValueError, match=r"class_labels must be .*10 is not a class"):
        mnist_pipe(class_labels=10, progress=False)
    with pytest.raises(ValueError, match=r"class_labels has 2 labels but batch_size is 3"):
        mnist_pipe(batch_size=3, class_labels=[1, 2], progress=False)
    with pytest.raises(ValueError, match=r"guidance_scale must be a finite number, got nan"):
        mnist_pipe(class_labels=1, guidance_scale=float("nan"), progress=False)
    with pytest.raises(ValueError, match=r"guidance_scale=2.0 needs class_labels"):
        mnist_pipe(guidance_scale=2.0, progress=False)
    digits = DDIMPipeline.from_pretrained("digits")
    with pytest.raises(ValueError, match=r"class_labels given, but this model is not class-cond"):
        digits(class_labels=3, progress=False)


def test_guided_mnist_samples_show_the_requested_class_with_clipping(mnist_pipe):
    # clipping (the default for images) re-derives eps from the clamped x_0; clamping x_0 alone
    # while keeping the guided eps left about 1 in 5 samples in the requested class
    from ddim_edu import pretrained

    classifier = pretrained.load("mnist_classifier")
    labels = torch.arange(30) % 10
    for clip in ("auto", None):
        x = mnist_pipe(class_labels=labels, guidance_scale=2.0, num_inference_steps=20,
                       generator=0, clip=clip, progress=False)  # fmt: skip
        with torch.no_grad():
            predicted = classifier(x).argmax(1)
        assert (predicted == labels).double().mean().item() >= 0.9, clip
