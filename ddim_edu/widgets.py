"""An interactive explorer of S, eta and the timestep spacing, for JupyterLab (ipywidgets).

The explorer is a thin shell around plain functions, so that everything it shows can be tested
without a browser:

* ``check_settings`` turns raw control values into ``Settings`` or raises ``ValueError`` with a
  message a learner can read (the explorer shows it instead of a traceback);
* ``MixtureView.compute`` samples a 2-D Gaussian mixture with its exact eps* from one fixed x_T and
  returns the trajectories, the samples and their sliced Wasserstein distance to the mixture with
  its noise floor; ``MixtureView.draw`` draws the paths over the exact density;
* ``DigitsView.compute`` samples the shipped digits UNet and scores the batch by the fraction of
  samples the project's digit classifier recognises with probability >= 0.9, beside the same
  fraction for real digits (with 64 samples in a 64-D feature space, digits-FID is mostly
  finite-sample bias; notebook 05 measures it on 10,000); ``DigitsView.draw`` shows the grid;
* ``Explorer`` wires controls to the views, caches what does not change (models, x_T per seed,
  densities, floors, and every result already computed) and reports the time each update took.

    from ddim_edu.widgets import Explorer
    Explorer().show()
"""

from __future__ import annotations

import base64
import io
import time
from collections import OrderedDict
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from . import plotting
from ._checks import _check_int, check_device
from .fast import FastSampler
from .gmm import GaussianMixture
from .metrics import noise_floor, sliced_wasserstein
from .pipeline import image_grid
from .sampling import ddim_sample, eta_label, eta_options
from .schedule import SPACINGS, linear_schedule, timesteps

S_CHOICES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
DATA_CHOICES = ("mixture + digits", "mixture", "digits")


@dataclass(frozen=True)
class Settings:
    """One state of the controls."""

    S: int = 20  # noqa: N815
    eta: float | str = 0.0  # a number in [0, 1] or "sigma_hat"
    spacing: str = "uniform"
    seed: int = 0
    data: str = "mixture + digits"

    @property
    def options(self) -> dict:
        """Keyword arguments of the samplers for this eta."""
        return eta_options(self.eta)

    @property
    def eta_text(self) -> str:
        return eta_label(self.eta, digits=2)


def check_settings(
    S: object,  # noqa: N803
    eta: object,
    spacing: object,
    seed: object,
    data: object,
    T: int = 1000,  # noqa: N803
) -> Settings:
    """Validate raw control values; raise ValueError with a message meant for the learner."""
    if data not in DATA_CHOICES:
        raise ValueError(
            f"choose what to show: one of {', '.join(map(repr, DATA_CHOICES))} (got {data!r})"
        )
    if isinstance(S, bool) or not isinstance(S, int) or not 1 <= S <= T:
        raise ValueError(f"S must be a whole number of steps from 1 to T = {T}, got {S!r}")
    if eta != "sigma_hat" and (
        isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= eta <= 1.0
    ):
        raise ValueError(f"eta must lie in [0, 1] (or be 'sigma_hat'), got {eta!r}")
    if spacing not in SPACINGS:
        raise ValueError(
            f"spacing must be one of {', '.join(map(repr, SPACINGS))}, got {spacing!r}"
        )
    seed = _check_int("seed", seed, 0)
    timesteps(S, T, spacing)  # raises for combinations a spacing cannot produce
    return Settings(
        S=S, eta=eta if eta == "sigma_hat" else float(eta), spacing=spacing, seed=seed, data=data
    )


class MixtureView:
    """Trajectories and samples of the 2-D mixture with its exact eps*, from one fixed x_T."""

    def __init__(self, n_samples: int = 2000, n_paths: int = 40) -> None:
        self.schedule = linear_schedule()
        self.mixture = GaussianMixture.example_2d()
        self.eps_model = self.mixture.eps_model(self.schedule)
        self.n_samples, self.n_paths = n_samples, n_paths
        gen = torch.Generator().manual_seed(2024)
        self.reference = self.mixture.sample(n_samples, gen)
        self.floor, _ = noise_floor(
            self.mixture.sample, n_samples, sliced_wasserstein, reference=self.reference
        )
        self._x_T: dict[int, torch.Tensor] = {}

    def x_T(self, seed: int) -> torch.Tensor:  # noqa: N802
        if seed not in self._x_T:
            gen = torch.Generator().manual_seed(seed)
            self._x_T[seed] = torch.randn(self.n_samples, 2, dtype=torch.float64, generator=gen)
        return self._x_T[seed]

    def compute(self, s: Settings) -> dict:
        """Samples, trajectories (S + 1, n_paths, 2) and the sliced W2 distance with its floor."""
        taus = timesteps(s.S, self.schedule.T, s.spacing)
        x_T = self.x_T(s.seed)
        x0, traj = ddim_sample(
            self.eps_model,
            x_T,
            self.schedule,
            taus,
            generator=s.seed + 1,
            return_trajectory=True,
            progress=False,
            **s.options,
        )
        return {
            "samples": x0,
            "paths": traj.x[:, : self.n_paths],
            "distance": sliced_wasserstein(x0, self.reference),
            "floor": self.floor,
        }

    def draw(self, ax, result: dict, s: Settings) -> None:
        plotting.density_2d(ax, self.mixture.log_prob, lim=3.2, resolution=110)
        plotting.paths_2d(ax, result["paths"], n_paths=self.n_paths, label_ends=False)
        ax.set_title(
            f"mixture, exact ε*: {self.n_paths} paths\n"
            f"SW₂ to the data {result['distance']:.3f} (floor {result['floor']:.3f}, n = {self.n_samples})",
            fontsize=9,
        )
        ax.set(xlabel="x₁", ylabel="x₂")


class DigitsView:
    """A grid of samples from the shipped digits UNet, scored by the classifier's confidence."""

    def __init__(self, n: int = 64, device: str | torch.device = "cpu") -> None:
        from .pretrained import load
        from .quality import DigitsQuality

        self.device = check_device(device)
        self.model = load("digits", device=self.device)
        self.quality = DigitsQuality(device=self.device)
        self.n = n
        from .data import load_digits

        p_real = self.quality.probabilities(load_digits()[0])
        self.floor = float((p_real.max(1).values >= 0.9).double().mean())  # real digits' value
        self._x_T: dict[int, torch.Tensor] = {}

    def x_T(self, seed: int) -> torch.Tensor:  # noqa: N802
        if seed not in self._x_T:
            gen = torch.Generator().manual_seed(seed)
            self._x_T[seed] = torch.randn(self.n, 1, 8, 8, generator=gen).to(self.device)
        return self._x_T[seed]

    def compute(self, s: Settings) -> dict:
        taus = timesteps(s.S, self.model.schedule.T, s.spacing)
        sampler = FastSampler(self.model, self.model.schedule, taus, **s.options)
        x0 = sampler(self.x_T(s.seed), generator=s.seed + 1).cpu()
        p = self.quality.probabilities(x0)
        confident = float((p.max(1).values >= 0.9).double().mean())
        return {"samples": x0, "confident": confident, "floor": self.floor}

    def draw(self, ax, result: dict, s: Settings) -> None:
        ax.imshow(image_grid(result["samples"], nrow=8), cmap="gray", vmin=0, vmax=255)
        ax.set_axis_off()
        ax.set_title(
            f"digits UNet: {self.n} samples\n"
            f"{result['confident']:.0%} confidently classified (real digits: {result['floor']:.0%})",
            fontsize=9,
        )


def figure_png(fig) -> bytes:
    """A figure as PNG bytes (what the explorer displays; handy for asserting that it changed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


class Explorer:
    """Controls for S, eta (or sigma_hat), spacing, seed and data, and the views they drive.

    ``explorer.update()`` runs on every change of a control; ``explorer.last`` holds the latest
    settings, results, figure PNG, seconds and error message (None when the update succeeded).
    """

    def __init__(
        self, device: str | torch.device = "cpu", n_digits: int = 64, cache_size: int = 64
    ):
        import ipywidgets as w

        self._mixture: MixtureView | None = None
        self._digits: DigitsView | None = None
        self.device, self.n_digits = device, n_digits
        self._cache: OrderedDict = OrderedDict()
        self.cache_size = cache_size
        style = {"description_width": "70px"}
        # S: type any number, or pick a usual value on the slider (which writes into the box)
        self.S = w.IntText(
            value=20, description="steps S", style=style, layout=w.Layout(width="150px")
        )
        self.S_slider = w.SelectionSlider(
            options=S_CHOICES, value=20, description="pick S", style=style
        )
        self.S_slider.observe(lambda change: setattr(self.S, "value", change["new"]), names="value")
        self.eta = w.FloatSlider(
            value=0.0,
            min=0.0,
            max=1.0,
            step=0.05,
            description="η",
            readout_format=".2f",
            style=style,
        )
        self.sigma_hat = w.Checkbox(value=False, description="σ̂ (DDPM's larger variance)")
        self.spacing = w.Dropdown(
            options=SPACINGS, value="uniform", description="spacing", style=style
        )
        self.seed = w.BoundedIntText(value=0, min=0, max=10**6, description="seed x_T", style=style)
        self.data = w.Dropdown(
            options=DATA_CHOICES, value=DATA_CHOICES[0], description="show", style=style
        )
        self.status = w.HTML()
        self.output = w.Output()
        self.last: dict = {}
        for control in (self.S, self.eta, self.sigma_hat, self.spacing, self.seed, self.data):
            control.observe(lambda _change: self.update(), names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.S_slider, self.S, self.eta, self.sigma_hat]),
                w.HBox([self.spacing, self.seed, self.data]),
                self.status,
                self.output,
            ]
        )
        self.widget.add_class("ddim-explorer")

    # the views are built on first use (loading the UNet and the classifier takes a moment)
    @property
    def mixture(self) -> MixtureView:
        if self._mixture is None:
            self._mixture = MixtureView()
        return self._mixture

    @property
    def digits(self) -> DigitsView:
        if self._digits is None:
            self._digits = DigitsView(n=self.n_digits, device=self.device)
        return self._digits

    def settings(self) -> Settings:
        eta = "sigma_hat" if self.sigma_hat.value else self.eta.value
        return check_settings(
            self.S.value, eta, self.spacing.value, self.seed.value, self.data.value
        )

    def compute(self, s: Settings) -> dict:
        """Results for the views that ``s.data`` asks for (cached by settings)."""
        results = {}
        for name in ("mixture", "digits"):
            if name not in s.data:
                continue
            key = (name, s.S, s.eta, s.spacing, s.seed)
            if key not in self._cache:
                self._cache[key] = getattr(self, name).compute(s)
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            results[name] = self._cache[key]
        return results

    def render(self, s: Settings, results: dict):
        fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 4.6), squeeze=False)
        for ax, (name, result) in zip(axes[0], results.items()):
            getattr(self, name).draw(ax, result, s)
        fig.suptitle(
            f"S = {s.S}, η = {s.eta_text}, {s.spacing} spacing, seed {s.seed}", fontsize=10
        )
        fig.tight_layout()
        return fig

    def update(self) -> dict:
        start = time.perf_counter()
        try:
            s = self.settings()
            results = self.compute(s)
            fig = self.render(s, results)
        except ValueError as err:
            self.status.value = f"<b style='color:#b00'>Cannot update:</b> {err}"
            self.last = {"error": str(err)}
            return self.last
        png = figure_png(fig)
        plt.close(fig)
        # The figure replaces the Output widget's content in one state update: no flicker in
        # JupyterLab, and no captured display messages (headless runners wait on those).
        self.output.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    "image/png": base64.b64encode(png).decode("ascii"),
                    "text/plain": f"<figure: S = {s.S}, η = {s.eta_text}>",
                },
                "metadata": {},
            },
        )
        seconds = time.perf_counter() - start
        parts = []
        if "mixture" in results:
            r = results["mixture"]
            parts.append(f"mixture SW₂ {r['distance']:.3f} (floor {r['floor']:.3f})")
        if "digits" in results:
            r = results["digits"]
            parts.append(
                f"digits {r['confident']:.0%} confidently classified (real {r['floor']:.0%})"
            )
        self.status.value = " · ".join(parts) + f" · updated in {seconds:.2f} s"
        self.last = {
            "settings": s,
            "results": results,
            "png": png,
            "seconds": seconds,
            "error": None,
        }
        return self.last

    def show(self):
        """Display the explorer (in a notebook) after drawing the first state."""
        from IPython.display import display

        self.update()
        display(self.widget)
        return self
