import pytest
import torch

from ddim_edu.models import (
    DigitClassifier,
    MLPDenoiser,
    UNet,
    UNetConfig,
    build_model,
    config_dict,
    timestep_embedding,
)


@pytest.mark.parametrize(
    "config, shape",
    [
        (dict(), (3, 1, 8, 8)),
        (dict(image_size=28, base_channels=16, channel_mults=(1, 2, 2)), (2, 1, 28, 28)),
        (
            dict(
                image_size=32,
                in_channels=3,
                base_channels=16,
                channel_mults=(1, 2, 2),
                attention=False,
            ),
            (2, 3, 32, 32),
        ),
    ],
)
def test_unet_maps_images_to_same_shape(config, shape):
    model = UNet(**config)
    out = model(torch.randn(shape), torch.randint(0, 1000, (shape[0],)))
    assert out.shape == shape


def test_untrained_unet_predicts_zero_and_then_depends_on_t():
    torch.manual_seed(0)
    model = UNet(base_channels=16)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(model(x, torch.tensor([3, 900])), torch.zeros_like(x))
    torch.nn.init.normal_(model.conv_out.weight)
    a = model(x, torch.tensor([3, 3]))
    b = model(x, torch.tensor([900, 900]))
    assert (a - b).abs().max() > 1e-3


def test_summary_states_the_parameter_count():
    model = UNet(base_channels=32)
    n = sum(p.numel() for p in model.parameters())
    assert f"{n / 1e6:.2f} M parameters" in model.summary()
    assert "1x8x8" in model.summary()
    mlp = MLPDenoiser(hidden=64, depth=2)
    assert f"{sum(p.numel() for p in mlp.parameters()) / 1e3:.1f} k parameters" in mlp.summary()


def test_config_round_trip_rebuilds_the_same_architecture():
    model = UNet(base_channels=16, channel_mults=(1, 2), attention=False)
    rebuilt = build_model(config_dict(model))
    assert rebuilt.config == model.config
    assert rebuilt.state_dict().keys() == model.state_dict().keys()
    clf = build_model(config_dict(DigitClassifier()))
    assert clf(torch.zeros(4, 1, 8, 8)).shape == (4, 10)
    assert clf.features(torch.zeros(4, 1, 8, 8)).shape == (4, 64)


def test_bad_model_configs_and_inputs():
    with pytest.raises(
        ValueError,
        match=r"image_size must be a positive multiple of 2\^\(len\(channel_mults\) - 1\) = 4, got 10",
    ):
        UNetConfig(image_size=10, channel_mults=(1, 2, 2))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, 8, 8\), got \(2, 1, 16, 16\)"):
        UNet(base_channels=16)(torch.zeros(2, 1, 16, 16), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 2\), got \(2, 3\)"):
        MLPDenoiser()(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="model kind must be one of"):
        build_model({"kind": "transformer"})
    with pytest.raises(ValueError, match=r"unknown unet config keys: \['depth'\]"):
        build_model({"kind": "unet", "depth": 3})


def test_timestep_embedding_separates_timesteps():
    emb = timestep_embedding(torch.arange(1000), 32)
    assert emb.shape == (1000, 32)
    d = torch.cdist(emb, emb) + torch.eye(1000) * 1e9
    assert d.min() > 1e-3


def test_networks_converted_to_float64_run_in_float64():
    torch.manual_seed(0)
    t = torch.tensor([3, 500, 999])
    unet = UNet(base_channels=16, num_classes=3)
    torch.nn.init.normal_(unet.conv_out.weight, std=0.05)  # not the zero output of a new UNet
    for model, x in ((unet, torch.randn(3, 1, 8, 8)), (MLPDenoiser(hidden=32), torch.randn(3, 2))):
        ref = model(x, t)
        out = model.double()(x.double(), t)  # the time embedding follows the weights' dtype
        assert out.dtype == torch.float64
        assert torch.allclose(out, ref.double(), atol=1e-5), (out - ref).abs().max()
    emb = timestep_embedding(t, 8, dtype=torch.float64)
    assert emb.dtype == torch.float64 and torch.equal(emb, timestep_embedding(t, 8).double())
