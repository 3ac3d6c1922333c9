"""The S x eta grid of the paper's Table 1, for any eps_model and any distance.

One cell = sample from the same x_T with (S, eta) and measure a distance to the data. Reusing
x_T (and the noise seed) across cells makes the comparison paired: differences between cells are
the sampler's, not the luck of the draw.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import schedule as _schedule
from ._checks import _check_int, check_device
from .checkpoints import describe_device
from .fast import FastSampler
from .sampling import EpsModel, ddim_sample, eta_label, eta_options  # noqa: F401 (re-exported)
from .schedule import Schedule, timesteps

S_GRID = (10, 20, 50, 100, 1000)
ETA_GRID: tuple[float | str, ...] = (0.0, 0.2, 0.5, 1.0, "sigma_hat")
NOISE_STREAM = 2**31 + 1  # odd: noise seeds never equal the grid's own seed (see noise_seed)


def noise_seed(seed: int, chunk: int = 0) -> int:
    """The seed of the sampler's noise for a grid's ``seed`` (chunk ``chunk`` of a cell).

    Grids draw x_T from ``manual_seed(seed)``. Seeding the noise with the same number would make
    the first noise draw equal x_T itself, bit for bit, so that the first stochastic step adds
    noise perfectly correlated with the state it starts from (at S = 10, eta = 1 on the 2-D
    mixture the variance after that step is 1.77 instead of 1.0). The noise comes from its own
    stream instead; every cell still uses the same noise seeds, so cells stay paired.

    PyTorch's CPU generator keeps only the low 32 bits of a seed, so the result is taken modulo
    2**32: (2**31 + 1 + 65537 seed + chunk) mod 2**32 differs from ``seed`` for every seed and
    every chunk below 65535."""
    seed = _check_int("seed", seed, 0)
    return (NOISE_STREAM + 65537 * seed + chunk) % 2**32


@dataclass
class GridResult:
    """values[i][j] and seconds[i][j] belong to etas[i] and steps[j]."""

    steps: list[int]
    etas: list[float | str]
    values: list[list[float]]
    seconds: list[list[float]]
    metric: str
    floor: float | None = None
    floor_std: float | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self, digits: int = 4) -> str:
        """A plain-text table: one row per eta, one column per S, the floor underneath."""
        head = "eta \\ S".ljust(9) + "".join(f"{s:>10d}" for s in self.steps)
        rows = [head]
        for eta, vals in zip(self.etas, self.values):
            rows.append(eta_label(eta).ljust(9) + "".join(f"{v:>10.{digits}f}" for v in vals))
        if self.floor is not None:
            spread = (
                f"± {self.floor_std:.{digits}f}"
                if self.floor_std
                else "(one draw, spread not measured)"
            )
            rows.append(f"noise floor {self.floor:.{digits}f} {spread}")
        return "\n".join(rows)


def quality_grid(
    eps_model: EpsModel,
    x_T: torch.Tensor,  # noqa: N803
    schedule: Schedule,
    distance: Callable[[torch.Tensor], float],
    *,
    steps: Sequence[int] = S_GRID,
    etas: Sequence[float | str] = ETA_GRID,
    spacing: str = "uniform",
    seed: int = 0,
    metric: str = "distance",
    progress: bool = True,
    fast: bool | dict = False,
) -> GridResult:
    """Sample every (eta, S) cell from the same x_T and noise seed and score it with ``distance``.

    ``distance(samples) -> float`` compares a batch of samples with the data (lower is better).
    ``fast=True`` (or a dict of ``FastSampler`` options such as ``{"autocast": "bf16"}``) samples
    with ``ddim_edu.fast.FastSampler``: the same samples up to float rounding, without the
    per-step overhead (what a GPU run wants).
    """
    check_grid(steps, etas, schedule.T, spacing)
    values, seconds = [], []
    bar = tqdm(total=len(steps) * len(etas), desc="S x eta grid", disable=not progress)
    for eta in etas:
        row_v, row_s = [], []
        for S in steps:
            start = time.perf_counter()
            x = sample_cell(eps_model, x_T, schedule, S, eta, spacing=spacing, seed=seed, fast=fast)
            row_s.append(time.perf_counter() - start)
            row_v.append(float(distance(x)))
            bar.update()
        values.append(row_v)
        seconds.append(row_s)
    bar.close()
    return GridResult(list(steps), list(etas), values, seconds, metric)


def check_grid(steps: Sequence[int], etas: Sequence[float | str], T: int, spacing: str) -> None:  # noqa: N803
    """Validate a whole grid before any cell runs, so a typo fails in a second, not after an hour."""
    if not steps or not etas:
        raise ValueError("steps and etas must each hold at least one value")
    for S in steps:
        timesteps(S, T, spacing)
    for eta in etas:
        opts = eta_options(eta)
        if "eta" in opts and not (opts["eta"] >= 0 and opts["eta"] < float("inf")):
            raise ValueError(f"eta must be a finite number >= 0 or 'sigma_hat', got {eta!r}")


def run_metadata(command: str, device: str | torch.device | None = None) -> dict:
    """Where and when a result was computed: device (``checkpoints.describe_device``; None: the
    first GPU if there is one, else the CPU), date, command, versions."""
    return {
        "device": describe_device(device),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def grid_checks(values: list[list[float]], etas: list, steps: list[int]) -> dict:
    """The paper's claims about a grid (rows: etas, columns: steps), as booleans.

    At S = 10: eta = 0 beats eta = 1, which beats sigma_hat, and eta = 0 is the best row; and the
    gap between the best and the worst eta shrinks from the smallest S to the largest.
    """
    at = {
        e if e == "sigma_hat" else str(float(e)): dict(zip(steps, row))
        for e, row in zip(etas, values)
    }  # keys "0.0", "1.0", "sigma_hat" whether etas came as 0 or 0.0
    s10 = {e: v[10] for e, v in at.items()} if 10 in steps else {}
    checks = {}
    if {"0.0", "1.0", "sigma_hat"} <= s10.keys():
        checks["S10_eta0_beats_eta1"] = s10["0.0"] < s10["1.0"]
        checks["S10_eta1_beats_sigma_hat"] = s10["1.0"] < s10["sigma_hat"]
        checks["S10_eta0_best"] = min(s10, key=s10.get) == "0.0"
    if len(steps) > 1:
        spread = [max(col) / min(col) for col in zip(*values)]
        checks["spread_shrinks_with_S"] = spread[-1] < spread[0]
    return checks


# --- the sweep as a command (one process or many under torchrun) ----------------------------------


@dataclass
class Target:
    """What a sweep's samples are compared with: ``score(samples)`` returns ``{"value": ..., extras}``
    (lower is better), ``floor(n)`` returns (the same metric for real data, the sample size used),
    ``floor_sd(n)``, where known, the spread of that floor for n samples."""

    metric: str
    data: str
    shape: tuple[int, ...]
    score: Callable[[torch.Tensor], dict]
    floor: Callable[[int], tuple[float, int]]
    floor_sd: Callable[[int], float] | None = None


def make_target(
    data: str,
    *,
    image_size: int | None = None,
    channels: int | None = None,
    n: int = 1000,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> Target:
    """The metric of a data set: digits-FID for the digits, MNIST-FID for MNIST, patch-SWD for an
    image folder, the sliced Wasserstein distance for the 2-D sets (against ``n`` fresh points)."""
    from .data import TWO_D, get_dataset, load_image_folder
    from .metrics import noise_floor, sliced_wasserstein
    from .quality import DigitsQuality, ImageQuality

    if data in ("digits", "mnist"):
        quality = DigitsQuality(device=device, data=data)
        chunk = quality.chunk

        def score_digits(x: torch.Tensor) -> dict:
            s = quality(x.cpu())
            return {"value": s.fid, "kid": s.kid, "confident": s.confident}

        return Target(
            quality.metric,
            data,
            quality.shape,
            score_digits,
            lambda m: (quality.floor_at(m), min(m, chunk)),
            quality.floor_sd_at,
        )
    if data in TWO_D:
        dataset = get_dataset(data)
        reference = dataset.batch(n, torch.Generator().manual_seed(seed + 1))

        # m -> (mean, sd) of the distance of fresh true sets of size m to the reference
        floors: dict[int, tuple[float, float]] = {}

        def floor_2d(m: int) -> tuple[float, float]:
            if m not in floors:
                floors[m] = noise_floor(dataset.batch, m, sliced_wasserstein, reference=reference)
            return floors[m]

        return Target(
            "sliced W2",
            data,
            dataset.shape,
            lambda x: {"value": sliced_wasserstein(x.cpu().double(), reference.double())},
            lambda m: (floor_2d(m)[0], m),
            lambda m: floor_2d(m)[1],
        )
    real = load_image_folder(data, size=image_size, channels=channels)
    quality = ImageQuality(real, seed=seed)

    def score_images(x: torch.Tensor) -> dict:
        r = quality(x)
        return {"value": r["mean"], "per_level": r["per_level"]}

    return Target(
        "patch-SWD", f"folder:{data}", tuple(real.shape[1:]), score_images, quality.floor_at
    )


def sample_cell(
    eps_model: EpsModel,
    x_T: torch.Tensor,  # noqa: N803
    schedule: Schedule,
    S: int,  # noqa: N803
    eta: float | str,
    *,
    spacing: str = "uniform",
    seed: int = 0,
    fast: bool | dict = False,
    batch: int | None = None,
    prediction: str = "eps",
) -> torch.Tensor:
    """One cell's samples. With ``batch`` the x_T rows go through in chunks of ``batch``; chunk k
    draws its noise from ``noise_seed(seed, k)`` (one chunk: exactly ``quality_grid``'s cell)."""
    taus = timesteps(S, schedule.T, spacing)
    options = eta_options(eta)
    fast_options = fast if isinstance(fast, dict) else ({} if fast else None)
    batch = x_T.shape[0] if batch is None else batch
    out = []
    for k, start in enumerate(range(0, x_T.shape[0], batch)):
        gen = torch.Generator().manual_seed(noise_seed(seed, k))
        chunk = x_T[start : start + batch]
        if fast_options is None:
            x = ddim_sample(
                eps_model,
                chunk,
                schedule,
                taus,
                generator=gen,
                progress=False,
                prediction=prediction,
                **options,
            )
        else:
            sampler = FastSampler(
                eps_model, schedule, taus, prediction=prediction, **options, **fast_options
            )
            x = sampler(chunk, generator=gen)
        out.append(x)
    x = torch.cat(out)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    return x


def _cell_path(cells_dir: Path, S: int, eta) -> Path:  # noqa: N803
    return cells_dir / f"cell_S{S}_eta{eta if isinstance(eta, str) else f'{float(eta):g}'}.json"


def _stored_cell(cells_dir: Path | None, S: int, eta, settings: dict) -> dict | None:  # noqa: N803
    """The scores of cell (S, eta) stored in ``cells_dir`` by an earlier run, or None."""
    import json

    if cells_dir is None:
        return None
    path = _cell_path(cells_dir, S, eta)
    if not path.exists():
        return None
    cell = json.loads(path.read_text())
    if cell.get("settings") != json.loads(json.dumps(settings)) or cell.get("S") != S:
        raise ValueError(
            f"cells_dir: {str(path)!r} holds a cell made with other settings "
            f"({cell.get('settings')}, S = {cell.get('S')}) than this run's ({settings}, S = {S}); "
            "remove it, or give another cells_dir"
        )
    return cell["scores"]


def run_sweep(
    eps_model: EpsModel,
    schedule: Schedule,
    target: Target,
    *,
    n: int = 1000,
    steps: Sequence[int] = S_GRID,
    etas: Sequence[float | str] = ETA_GRID,
    seed: int = 0,
    spacing: str = "uniform",
    fast: bool | dict = False,
    batch: int | None = None,
    prediction: str = "eps",
    device: str | torch.device = "cpu",
    ctx=None,
    progress: bool = True,
    command: str = "",
    model_name: str = "",
    cells_dir: str | Path | None = None,
) -> dict | None:
    """The S x eta grid as a results record (the format of ``ddim_edu/records/digits_quality.json``).

    Every cell starts from the same x_T (drawn from a CPU generator seeded by ``seed``) and the
    same noise seed. Under torchrun (``ctx`` from ``ddim_edu.distributed.setup``) the cells are
    split across ranks, balanced by their number of steps, and rank 0 gathers them: a cell's
    numbers do not depend on which rank computed it. Returns the record on rank 0, None elsewhere.

    With ``cells_dir`` each cell's scores are written there (``cell_S{S}_eta{eta}.json``,
    atomically) as soon as the cell is done, and a cell already stored there with the same
    settings (n, seed, spacing, prediction, fast, batch, model_name, the target's metric and data)
    is read instead of sampled: a long run that stops part-way continues from the cells
    it finished, with the same numbers, since a cell depends only on x_T, its noise seed and its
    own (S, eta). A stored cell made with other settings raises ValueError naming the file.
    """
    from . import distributed

    ctx = ctx or distributed.SINGLE
    n = _check_int("n (samples per cell, --samples)", n, 2)
    if batch is not None:
        batch = _check_int("batch (--batch)", batch, 1, hint=" or None")
    check_grid(steps, etas, schedule.T, spacing)
    cells = [(i, j) for i in range(len(etas)) for j in range(len(steps))]
    owned = distributed.split_cells([float(steps[j]) for _, j in cells], ctx.world)[ctx.rank]
    start = time.perf_counter()
    x_T = torch.randn(n, *target.shape, generator=torch.Generator().manual_seed(seed)).to(device)  # noqa: N806
    settings = {"n": n, "seed": seed, "spacing": spacing, "prediction": prediction}
    settings |= {"fast": fast, "batch": batch, "model": model_name}
    settings |= {"metric": target.metric, "data": target.data}
    if cells_dir is not None:
        cells_dir = Path(cells_dir)
        cells_dir.mkdir(parents=True, exist_ok=True)  # checked before the work
    mine, earlier_s = {}, 0.0  # earlier_s: the time of the cells read from cells_dir
    bar = tqdm(
        total=len(owned),
        desc=f"S x eta grid (rank {ctx.rank})" if ctx.enabled else "S x eta grid",
        disable=not progress or not ctx.main,
    )
    for c in owned:
        i, j = cells[c]
        stored = _stored_cell(cells_dir, steps[j], etas[i], settings)
        if stored is not None:
            mine[c] = stored | {"rank": ctx.rank}
            earlier_s += stored["seconds"]
            bar.update()
            continue
        t0 = time.perf_counter()
        x = sample_cell(
            eps_model,
            x_T,
            schedule,
            steps[j],
            etas[i],
            spacing=spacing,
            seed=seed,
            fast=fast,
            batch=batch,
            prediction=prediction,
        )
        seconds = time.perf_counter() - t0
        mine[c] = {"seconds": seconds, "rank": ctx.rank, **target.score(x)}
        if cells_dir is not None:
            from .checkpoints import write_json

            cell = {"S": steps[j], "eta": etas[i], "settings": settings, "scores": mine[c]}
            write_json(_cell_path(cells_dir, steps[j], etas[i]), cell)
        bar.update()
    bar.close()
    parts = distributed.gather(ctx, mine)
    if not ctx.main:
        return None
    results = {c: r for part in parts for c, r in part.items()}
    floor, floor_n = target.floor(n)

    def matrix(key: str) -> list[list]:
        return [
            [results[i * len(steps) + j][key] for j in range(len(steps))] for i in range(len(etas))
        ]

    grid = GridResult(
        list(steps),
        list(etas),
        matrix("value"),
        matrix("seconds"),
        target.metric,
        floor=floor,
        floor_std=target.floor_sd(n) if target.floor_sd is not None else 0.0,
        meta={"floor_n": floor_n},
    )
    extras = {k: matrix(k) for k in results[0] if k not in ("value", "seconds")}
    sampler = "ddim_edu.fast.FastSampler" if fast else "ddim_edu.sampling.ddim_sample"
    return {
        "meta": run_metadata(command, device)
        | {
            "n_per_cell": n,
            "seed": seed,
            "noise": "x_T from manual_seed(seed); chunk k's noise from manual_seed(noise_seed(seed, k))",
            "spacing": spacing,
            "sampler": sampler,
            "batch": batch,
            "wall_s": round(time.perf_counter() - start + earlier_s, 1),
            "model": model_name,
            "data": target.data,
            "world_size": ctx.world,
        },
        "grid": grid.to_dict() | extras,
        "checks": grid_checks(grid.values, grid.etas, grid.steps),
    }


def load_results(path) -> tuple[GridResult, dict]:
    """A results file of ``python -m ddim_edu sweep`` (or the benchmark): the grid and its meta."""
    import json

    record = json.loads(Path(path).read_text())
    if "grid" not in record or "meta" not in record:
        raise ValueError(f"{str(path)!r} is not a sweep results file (it needs 'grid' and 'meta')")
    g = record["grid"]
    keys = ("steps", "etas", "values", "seconds", "metric", "floor", "floor_std")
    return GridResult(**{k: g.get(k) for k in keys}, meta=g.get("meta", {})), record["meta"]


FAST_MODES = ("auto", "on", "off")  # the sweep command's --fast: auto = on a GPU only


@dataclass
class SweepConfig:
    """The options of ``python -m ddim_edu sweep``; each field with ``metadata["help"]`` is one
    (``--run-dir`` for ``run_dir``), generated from it. ``etas`` may be given as the command
    line's text ("0,1,sigma_hat")."""

    model: str | None = field(
        default=None,
        metadata={
            "help": "a shipped model by name (default: digits when --run-dir is not given)",
            "group": "model",
        },
    )
    run_dir: str | None = field(
        default=None,
        metadata={"help": "a training run folder (its checkpoint's EMA weights)", "group": "model"},
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "data to compare with: digits, mnist, gmm, moons, swissroll or an image folder "
            "(default: the data the model was trained on)"
        },
    )
    samples: int = field(default=1000, metadata={"help": "samples per cell"})
    steps: tuple[int, ...] = field(default=S_GRID, metadata={"help": "comma-separated S values"})
    etas: tuple[float | str, ...] = field(
        default=ETA_GRID,
        metadata={
            "help": "comma-separated eta values; sigma_hat is DDPM's larger variance",
            "type": str,  # parsed by parse_etas, whose error names --etas
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of x_T and of the noise"})
    spacing: str = field(
        default="uniform",
        metadata={
            "help": "timestep spacing; uniform is the paper's",
            "choices": _schedule.SPACINGS,
        },
    )
    batch: int | None = field(
        default=None,
        metadata={"help": "sample a cell in chunks of this many (default: all at once)"},
    )
    fast: str = field(
        default="auto",
        metadata={
            "help": "sample with ddim_edu.fast.FastSampler (default: auto, on a GPU only)",
            "choices": FAST_MODES,
        },
    )
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N or mps"})
    compile: bool = field(
        default=False,
        metadata={
            "help": "fast sampler with the network run through torch.compile (pays off for long "
            "GPU sweeps)"
        },
    )
    out: str = field(
        default="runs/sweep.json",
        metadata={
            "help": "results file; the heat map is written next to it as .png. An earlier "
            "sweep's results (and heat map) there are replaced, any other file only with "
            "--overwrite"
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "replace existing files at --out and its .png whatever they hold"},
    )

    def __post_init__(self) -> None:
        if self.model is not None and self.run_dir is not None:
            raise ValueError("give --model or --run-dir, not both")
        if Path(self.out).suffix.lower() == ".png":
            raise ValueError(
                f"--out {self.out!r} ends in .png, the suffix of the heat map written next to the "
                "results file, so the two would share one path; give a results file such as "
                f"{str(Path(self.out).with_suffix('.json'))!r}"
            )
        self.steps = tuple(self.steps)
        self.etas = parse_etas(self.etas) if isinstance(self.etas, str) else tuple(self.etas)


def parse_etas(text: str) -> tuple[float | str, ...]:
    """The etas of a command line: ``"0,0.5,sigma_hat"`` -> ``(0.0, 0.5, "sigma_hat")``.

    Their ranges are checked with the rest of the grid, by ``check_grid``."""
    etas: list[float | str] = []
    for v in text.split(","):
        v = v.strip()
        if v == "sigma_hat":
            etas.append(v)
            continue
        try:
            etas.append(float(v))
        except ValueError:
            raise ValueError(
                f"--etas must be comma-separated numbers >= 0 or sigma_hat, got {text!r}"
            ) from None
    return tuple(etas)


def run_sweep_command(cfg: SweepConfig, *, command: str = "", progress: bool = True) -> dict | None:
    """``python -m ddim_edu sweep``: load the model (``cfg.model`` or ``cfg.run_dir``) and its
    data's metric, run the grid (split across processes under torchrun), and on rank 0 write the
    results file ``cfg.out`` (atomically) and its heat map, and print the table.

    Returns the record on rank 0, None on the other ranks."""
    import io
    import json

    from . import distributed, pretrained
    from .checkpoints import CHECKPOINT, read_checkpoint_meta, write_atomic, write_json
    from .train import load_run, pick_device

    if cfg.device != "auto":
        check_device(cfg.device, "--device")  # before the process group, the model or the data
    ctx, dist_device = distributed.setup(cfg.device)
    try:
        device = dist_device if dist_device is not None else pick_device(cfg.device)

        def load():
            if cfg.run_dir:
                path = Path(cfg.run_dir) / CHECKPOINT
                if not path.is_file():
                    raise ValueError(f"--run-dir {cfg.run_dir!r} holds no {CHECKPOINT}")
                meta = read_checkpoint_meta(path)  # a damaged header is named by its file
                if not isinstance(meta.get("train"), dict):
                    raise ValueError(
                        f"--run-dir {cfg.run_dir!r}: checkpoint {str(path)!r} records no training "
                        "config ('train'); it is not a denoiser run of python -m ddim_edu train"
                    )
                model = load_run(cfg.run_dir)
                return model, f"run {cfg.run_dir} (step {model.step})", meta["train"]
            name = cfg.model or "digits"
            model = pretrained.load(name)
            if not hasattr(model, "schedule"):
                raise ValueError(
                    f"--model {name!r} is not a denoiser; choose one of the shipped denoisers"
                )
            return model, f"shipped {name}: {model.info['command']}", {"data": _shipped_data(name)}

        model, model_name, train_cfg = distributed.attempt(ctx, "loading the model", load)
        model = model.to(device)
        data = cfg.data or train_cfg["data"]
        target = distributed.attempt(
            ctx,
            f"loading data {data!r}",
            lambda: make_target(
                data,
                image_size=train_cfg.get("image_size"),
                channels=train_cfg.get("channels"),
                n=cfg.samples,
                seed=cfg.seed,
                device=device,
            ),
        )
        fast = cfg.fast == "on" or (cfg.fast == "auto" and device.type == "cuda")
        record = run_sweep(
            model,
            model.schedule,
            target,
            n=cfg.samples,
            steps=cfg.steps,
            etas=cfg.etas,
            seed=cfg.seed,
            spacing=cfg.spacing,
            fast={"compile": True} if cfg.compile else fast,
            batch=cfg.batch,
            prediction=getattr(model, "prediction", "eps"),
            device=device,
            ctx=ctx,
            progress=progress,
            command=command,
            model_name=model_name,
        )
        if record is not None:
            from .plotting import save_sweep_figure

            out = write_json(cfg.out, record)
            grid, meta = load_results(out)
            png = io.BytesIO()
            save_sweep_figure(grid, meta, png)
            figure = write_atomic(out.with_suffix(".png"), png.getvalue())
            print(grid.table(digits=4))
            print(f"checks: {json.dumps(record['checks'])}")
            print(f"wrote {out} and {figure} ({meta['wall_s']} s, {ctx.world} process(es))")
    except BaseException:
        if ctx.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()  # no barrier: the others may be stuck
        raise
    distributed.teardown(ctx)
    return record


def _shipped_data(name: str) -> str:
    """The data a shipped denoiser was trained on (its metric's data)."""
    return {
        "digits": "digits",
        "mlp_gmm": "gmm",
        "mlp_moons": "moons",
        "mlp_swissroll": "swissroll",
    }.get(name, name)
