"""A fast path for the eta-family sampler: the same samples as ``ddim_sample``, with no overhead.

``ddim_sample`` is written to be read: one step is "predict x_0, point back to x_t, add noise".
``FastSampler`` computes the same update for a fixed (schedule, timesteps, eta) and is written to
cost nothing beside the network:

* Every per-step coefficient is computed once, in float64, when the sampler is built. Without
  clipping the update is linear in (x_t, network output, z), so one step is two fused kernels:

      x_prev = A_t x_t + B_t out + C_t z        (out = eps, x_0 or v, whatever the network predicts)

  With clipping, eps is re-derived from the clamped x_0 (as in ``ddim_sample``), so the step is
  x_prev = D_t clamp(x_0) + E_t x_t + C_t z, still three fused kernels.

  The timestep batches are made once per batch size and device; nothing inside the loop creates
  a tensor from host data, reads a value back, or synchronises with the device. As in
  ``ddim_sample``, the network's output must have x's shape (a host-side check at each step) and a
  non-finite x_0 gives a warning (one check, after the loop).
* Noise is still drawn from a seeded CPU generator (so a seed gives the same samples on every
  device, and the same as ``ddim_sample``). For a GPU it is drawn ahead of the loop into pinned
  memory and copied without blocking; on the CPU it is drawn step by step into one reused buffer.
* Options for a GPU: ``autocast`` runs the network in bfloat16 or float16 (the update stays in
  the data's dtype), ``channels_last`` stores images as NHWC, and ``cuda_graph=True`` records
  the whole loop once per batch shape as a CUDA graph and replays it (no per-kernel launch cost).

On a CPU the fast path is the plain eager loop with precomputed coefficients; it gives the same
numbers as ``ddim_sample`` up to float rounding (tests: 1e-5 in float32, and with bf16 autocast
the samples agree with the float32 ones to a stated tolerance; see ``benchmarks/``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import torch

from ._checks import _check_choice, _check_clip, _check_eta, _check_x
from .forward import make_generator
from .sampling import (
    PREDICTIONS,
    VARIANCES,
    EpsModel,
    _finish,
    check_model_output,
    ddim_coefficients,
    network_dtype,
)
from .schedule import Schedule, check_timesteps

AUTOCAST = {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _output_to_eps_x0(prediction: str, a_t: float) -> tuple[float, float, float, float]:
    """(p, q, r, s) with eps = p x + q out and x0 = r x + s out, for one level alpha_bar_t."""
    sa, s1a = math.sqrt(a_t), math.sqrt(1.0 - a_t)
    if prediction == "eps":
        return 0.0, 1.0, 1.0 / sa, -s1a / sa
    if prediction == "x0":
        return 1.0 / s1a, -sa / s1a, 0.0, 1.0
    return s1a, sa, sa, -s1a  # v


class FastSampler:
    """The generalized DDIM update (eq. 12) for fixed settings, built once and called many times.

    Args:
        eps_model: ``eps_model(x, t)`` as for ``ddim_sample``.
        schedule, timesteps, eta, variance, clip, prediction: as for ``ddim_sample``.
        autocast: None (the data's dtype), ``"bf16"`` or ``"fp16"``: the network runs under
            ``torch.autocast`` on the device of x_T; the update itself stays in x_T's dtype.
        channels_last: keep 4-D images in channels-last memory format (the model must accept it;
            the UNet of this package does).
        cuda_graph: on CUDA, record the whole loop as one CUDA graph per batch shape and replay it.
            Memory: the graph keeps one noise buffer of (steps that add noise) x the batch.
        compile: run the network through ``torch.compile`` (fused kernels, e.g. GroupNorm with
            SiLU). The compiled network is kept per model, so the many samplers of a sweep
            compile once per batch shape; the first call pays the compilation (tens of seconds).

    Call: ``sampler(x_T, generator=seed_or_cpu_generator)`` returns x_0, as ``ddim_sample`` would.
    """

    def __init__(
        self,
        eps_model: EpsModel,
        schedule: Schedule,
        timesteps: Sequence[int],
        eta: float = 0.0,
        *,
        variance: str = "eta",
        clip: float | None = None,
        prediction: str = "eps",
        autocast: str | None = None,
        channels_last: bool = False,
        cuda_graph: bool = False,
        compile: bool = False,  # noqa: A002
    ) -> None:
        self.compile = bool(compile)
        self.model = _compiled(eps_model) if self.compile else eps_model
        self.taus = check_timesteps(timesteps, schedule.T)
        self.variance = _check_choice("variance", variance, VARIANCES)
        self.eta = _check_eta(eta)
        self.prediction = _check_choice("prediction", prediction, PREDICTIONS)
        self.clip = _check_clip(clip)
        if autocast not in AUTOCAST:
            raise ValueError(f"autocast must be None, 'bf16' or 'fp16', got {autocast!r}")
        self.autocast = autocast
        self.channels_last = bool(channels_last)
        self.cuda_graph = bool(cuda_graph)
        self.steps: list[dict] = []
        for step in ddim_coefficients(schedule, self.taus, self.eta, self.variance):
            t, a_t, a_prev, s_noise = (
                step.t,
                step.alpha_bar_t,
                step.alpha_bar_prev,
                step.sigma_noise,
            )
            p, q, r, s = _output_to_eps_x0(self.prediction, a_t)
            c0 = math.sqrt(a_prev)
            direction = step.direction
            # with clipping eps is re-derived from the clamped x_0, eps = (x - sqrt(a_t) x0) /
            # sqrt(1 - a_t), so x_prev = (c0 - direction sqrt(a_t / (1 - a_t))) x0 + direction /
            # sqrt(1 - a_t) x
            clip_x0 = c0 - direction * math.sqrt(a_t / (1.0 - a_t))
            clip_x = direction / math.sqrt(1.0 - a_t)
            self.steps.append(
                {
                    "t": t,
                    "A": c0 * r + direction * p,  # x_prev = A x + B out + C z  (no clipping)
                    "B": c0 * s + direction * q,
                    "C": s_noise,
                    "x0": (r, s),
                    "clip_x0": clip_x0,  # x_prev = clip_x0 clamp(r x + s out) + clip_x x + C z
                    "clip_x": clip_x,
                }
            )
        self.noisy = [i for i, st in enumerate(self.steps) if st["C"] > 0.0]
        self._t_cache: dict[tuple, list[torch.Tensor]] = {}
        self._graphs: dict[tuple, tuple] = {}

    def __len__(self) -> int:
        return len(self.steps)

    # --- pieces ----------------------------------------------------------------------------------

    def _t_batches(self, batch: int, device: torch.device) -> list[torch.Tensor]:
        key = (batch, str(device))
        if key not in self._t_cache:
            taus = torch.tensor(self.taus, dtype=torch.int64, device=device)
            self._t_cache[key] = list(taus.view(-1, 1).expand(-1, batch).contiguous())
        return self._t_cache[key]

    def draw_noise(
        self,
        x_T: torch.Tensor,
        generator: torch.Generator | int | None,  # noqa: N803
    ) -> torch.Tensor | None:
        """All the noise the loop will add, drawn on the CPU in the order ``ddim_sample`` draws it.

        Returns (len(self.noisy), *x_T.shape) on x_T's device, or None for a deterministic loop.
        """
        if not self.noisy:
            return None
        gen = make_generator(generator)
        pin = x_T.device.type == "cuda"
        buf = torch.empty((len(self.noisy), *x_T.shape), dtype=x_T.dtype, pin_memory=pin)
        if x_T.numel() % 16 == 0:
            # PyTorch's CPU normal sampler works in blocks of 16 numbers, so for such sizes one
            # call gives the very numbers of one call per step (tests/test_fast.py checks this)
            torch.randn(tuple(buf.shape), generator=gen, dtype=x_T.dtype, out=buf)
        else:
            for k in range(len(self.noisy)):
                torch.randn(tuple(x_T.shape), generator=gen, dtype=x_T.dtype, out=buf[k])
        return buf.to(x_T.device, non_blocking=pin)

    def _autocast(self, device: torch.device):
        if self.autocast is None:
            return contextlib.nullcontext()
        # a CUDA graph must not capture autocast's weight cache (PyTorch's CUDA-graph notes)
        return torch.autocast(
            device_type=device.type,
            dtype=AUTOCAST[self.autocast],
            cache_enabled=False if self.cuda_graph else None,
        )

    def _loop(
        self,
        x: torch.Tensor,
        noise,
        ts: list[torch.Tensor],
        progress: bool = False,
        net_dtype: torch.dtype | None = None,
    ):
        k = 0
        ctx = self._autocast(x.device)
        x = x.clone()  # updated in place below; the caller's x_T (or a graph's input) stays intact
        steps = self.steps
        if progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc=f"DDIM, {len(steps)} steps")
        for i, st in enumerate(steps):
            with ctx:  # the network sees x in its parameters' dtype (as in ``model_output``)
                out = self.model(x if net_dtype in (None, x.dtype) else x.to(net_dtype), ts[i])
            check_model_output(out, x)  # shapes only: nothing is read back from the device
            if out.dtype != x.dtype:
                out = out.to(x.dtype)
            if self.clip is not None:
                r, s = st["x0"]
                x0 = torch.add(x * r, out, alpha=s).clamp_(-self.clip, self.clip)
                x = torch.add(x * st["clip_x"], x0, alpha=st["clip_x0"])
            elif out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
                x = torch.add(x * st["A"], out, alpha=st["B"])  # the output aliases x
            else:
                x.mul_(st["A"]).add_(out, alpha=st["B"])
            if st["C"] > 0.0:
                x.add_(noise[k], alpha=st["C"])  # type: ignore[index]
                k += 1
        return x

    # --- the call ---------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        x_T: torch.Tensor,  # noqa: N803
        generator: torch.Generator | int | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """x_0 from x_T; ``progress`` shows a bar over the steps (not with ``cuda_graph``).

        x_0 has x_T's dtype and device; a float32 network takes a float64 x_T (it sees x cast to
        its parameters' dtype). Warns, as ``ddim_sample`` does, when x_0 is not finite.
        """
        x = _check_x("x_T", x_T)
        net_dtype = network_dtype(self.model)
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        ts = self._t_batches(x.shape[0], x.device)
        if x.device.type == "cpu" and not self.cuda_graph:
            gen = make_generator(generator)
            noise = _LazyNoise(x, gen, len(self.noisy)) if self.noisy else None
        else:
            noise = self.draw_noise(x, generator)
        if self.cuda_graph and x.device.type == "cuda":
            out = self._replay(x, noise, ts, net_dtype)
        else:
            out = self._loop(x, noise, ts, progress, net_dtype)
        _finish(out, "FastSampler")  # once, after the loop (and outside a CUDA graph)
        return out.contiguous()

    def _replay(
        self,
        x: torch.Tensor,
        noise: torch.Tensor | None,
        ts: list[torch.Tensor],
        net_dtype: torch.dtype | None,
    ):
        key = (tuple(x.shape), x.dtype, str(x.device), x.is_contiguous(), net_dtype)
        if key not in self._graphs:
            static_x = x.clone()
            static_noise = None if noise is None else noise.clone()
            stream = torch.cuda.Stream(device=x.device)
            stream.wait_stream(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(stream):  # warm-up outside the graph (cuDNN picks kernels)
                self._loop(static_x, static_noise, ts, net_dtype=net_dtype)
            torch.cuda.current_stream(x.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._loop(static_x, static_noise, ts, net_dtype=net_dtype)
            self._graphs[key] = (graph, static_x, static_noise, static_out)
        graph, static_x, static_noise, static_out = self._graphs[key]
        static_x.copy_(x)
        if noise is not None:
            static_noise.copy_(noise)
        graph.replay()
        return static_out.clone()


def _compiled(model):
    """``torch.compile(model)``, made once per model object (a sweep builds many samplers).

    Kept in the model's ``__dict__`` (not as a submodule, so ``state_dict`` does not see it)."""
    cached = getattr(model, "__dict__", {}).get("_ddim_edu_compiled")
    if cached is None:
        cached = torch.compile(model, dynamic=False)
        if hasattr(model, "__dict__"):
            model.__dict__["_ddim_edu_compiled"] = cached
    return cached


class _LazyNoise:
    """The loop's noise drawn as it goes, a block of steps at a time into one reused buffer (on the
    CPU this beats drawing it all ahead: the buffer stays in cache). Same numbers, same order as
    ``draw_noise``: blocks are drawn in one call only when that gives identical numbers."""

    def __init__(self, like: torch.Tensor, generator: torch.Generator | None, n: int) -> None:
        numel = like.numel()
        block = max(1, min(n, (1 << 20) // numel)) if numel % 16 == 0 else 1
        self.buf = torch.empty((block, *like.shape), dtype=like.dtype)
        self.generator, self.left, self.pos, self.filled = generator, n, 0, 0

    def __getitem__(self, k: int) -> torch.Tensor:
        if self.pos == self.filled:  # steps ask in order, 0, 1, 2, ...
            m = min(self.buf.shape[0], self.left)
            torch.randn((m, *self.buf.shape[1:]), generator=self.generator, out=self.buf[:m])
            self.left, self.pos, self.filled = self.left - m, 0, m
        self.pos += 1
        return self.buf[self.pos - 1]


def fast_ddim_sample(
    eps_model: EpsModel,
    x_T: torch.Tensor,  # noqa: N803
    schedule: Schedule,
    timesteps: Sequence[int],
    eta: float = 0.0,
    *,
    generator: torch.Generator | int | None = None,
    **options,
) -> torch.Tensor:
    """One-off call of ``FastSampler``: same arguments and same result as ``ddim_sample``."""
    sampler = FastSampler(eps_model, schedule, timesteps, eta, **options)
    return sampler(x_T, generator=generator)
