"""The explorer's views as plain functions, and the widget driven from code (no browser)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ddim_edu.widgets import (  # noqa: E402
    DigitsView,
    Explorer,
    MixtureView,
    Settings,
    check_settings,
)


@pytest.fixture(scope="module")
def mixture():
    return MixtureView(n_samples=1000, n_paths=20)


@pytest.fixture(scope="module")
def digits():
    return DigitsView(n=32)


def test_mixture_view_shapes_and_drawing(mixture):
    s = Settings(S=10, eta=0.0)
    r = mixture.compute(s)
    assert r["samples"].shape == (1000, 2)
    assert r["paths"].shape == (11, 20, 2)  # S + 1 levels
    fig, ax = plt.subplots()
    mixture.draw(ax, r, s)
    assert len(ax.lines) == 20  # one path per particle
    assert "SW₂ to the data" in ax.get_title() and "n = 1000" in ax.get_title()
    plt.close(fig)


def test_eta_zero_repeats_exactly_and_eta_one_depends_on_the_seed_of_the_noise(mixture):
    a = mixture.compute(Settings(S=20, eta=0.0, seed=3))
    b = mixture.compute(Settings(S=20, eta=0.0, seed=3))
    assert torch.equal(a["samples"], b["samples"])
    c = mixture.compute(Settings(S=20, eta=1.0, seed=3))
    assert not torch.allclose(a["samples"], c["samples"])
    assert torch.equal(a["paths"][0], c["paths"][0])  # the same fixed x_T


def test_quality_number_responds_to_S(mixture, digits):  # noqa: N802
    one = mixture.compute(Settings(S=1))["distance"]
    fifty = mixture.compute(Settings(S=50))["distance"]
    assert fifty < 2 * mixture.floor < one
    d1 = digits.compute(Settings(S=1))
    d50 = digits.compute(Settings(S=50))
    assert d50["confident"] > 0.8 > d1["confident"]
    assert digits.floor > 0.97  # real digits: the classifier is sure of nearly all


def test_digits_view_shapes_and_drawing(digits):
    s = Settings(S=10, eta="sigma_hat")
    r = digits.compute(s)
    assert r["samples"].shape == (32, 1, 8, 8)
    assert 0 <= r["confident"] <= 1 and r["floor"] == digits.floor
    fig, ax = plt.subplots()
    digits.draw(ax, r, s)
    assert len(ax.images) == 1 and "confidently classified (real digits: 9" in ax.get_title()
    plt.close(fig)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"S": 2000}, "S must be a whole number of steps from 1 to T = 1000, got 2000"),
        ({"S": 0}, "S must be a whole number of steps from 1 to T = 1000"),
        ({"data": None}, "choose what to show: one of 'mixture \\+ digits'"),
        ({"data": ""}, "choose what to show"),
        ({"eta": 1.5}, "eta must lie in \\[0, 1\\]"),
        ({"spacing": "cubic"}, "spacing must be one of"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
    ],
)
def test_bad_control_values_give_readable_messages(raw, message):
    values = {"S": 10, "eta": 0.0, "spacing": "uniform", "seed": 0, "data": "mixture"} | raw
    with pytest.raises(ValueError, match=message):
        check_settings(**values)


def test_explorer_driven_from_code():
    pytest.importorskip("ipywidgets")
    ex = Explorer(n_digits=16)
    ex.data.value = "mixture"
    first = ex.last
    assert first["error"] is None and set(first["results"]) == {"mixture"}
    assert "updated in" in ex.status.value and "floor" in ex.status.value
    ex.eta.value = 1.0
    assert ex.last["png"] != first["png"]  # the figure changed
    ex.S_slider.value = 100  # the slider writes into the S box, which drives the update
    assert ex.S.value == 100 and ex.last["settings"].S == 100
    ex.S.value = 5000
    assert ex.last["error"].startswith("S must be a whole number")
    assert "Cannot update" in ex.status.value
    ex.S.value = 10
    ex.data.value = None
    assert "choose what to show" in ex.status.value
    ex.data.value = "mixture + digits"
    assert set(ex.last["results"]) == {"mixture", "digits"}
    assert ex.last["results"]["digits"]["samples"].shape == (16, 1, 8, 8)
