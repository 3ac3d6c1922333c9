"""Running under ``torchrun``: process group, rank-0 duties, and errors every rank agrees on.

``torchrun --nproc_per_node=N -m ddim_edu train ...`` starts N copies of the command with
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set. :func:`setup` reads them and joins the process
group (NCCL on CUDA, gloo on the CPU); without them everything here is a no-op for one process.

Failures that happen on some ranks only (a data folder one machine cannot read, a checkpoint only
rank 0 can open) must not leave the other ranks waiting in a collective forever: :func:`agree`
gathers every rank's error and raises the same readable :class:`DistributedError` on all of them.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


class DistributedError(ValueError):
    """An input error found on one or more ranks, raised identically on every rank."""


@dataclass(frozen=True)
class Context:
    """Where this process sits in the job. ``Context()`` is the single-process job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that keeps the EMA, writes checkpoints and results, and prints."""
        return self.rank == 0


SINGLE = Context()


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""

    def read(name: str, default: int) -> int:
        raw = os.environ.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise DistributedError(
                f"environment variable {name} must be an integer, got {raw!r}"
            ) from None

    world = read("WORLD_SIZE", 1)
    rank = read("RANK", 0)
    local = read("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise DistributedError(f"RANK={rank} and WORLD_SIZE={world} are inconsistent")
    return rank, world, local


def setup(
    device: str = "auto", timeout_s: float | None = None
) -> tuple[Context, torch.device | None]:
    """Join torchrun's process group if there is one.

    Returns the context and, under torchrun, the device this rank must use (``cuda:LOCAL_RANK``
    when CUDA is used, else the CPU); ``None`` for a single process (the caller picks as usual).
    ``device`` is the user's choice (auto | cpu | cuda | cuda:N | mps): NCCL serves CUDA,
    gloo everything else. ``timeout_s`` bounds every collective (default: the env variable
    ``DDIM_EDU_DIST_TIMEOUT`` or 600 s), so a rank that died without torchrun noticing cannot
    hang the others for PyTorch's default 30 minutes.
    """
    rank, world, local = env_world()
    if world == 1:
        return SINGLE, None
    if device == "mps":
        raise DistributedError(
            "distributed training runs on CUDA (NCCL) or the CPU (gloo), not on mps"
        )
    use_cuda = torch.cuda.is_available() and (device == "auto" or device.startswith("cuda"))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DistributedError(f"device {device!r} was asked for but CUDA is not available")
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise DistributedError(
                f"LOCAL_RANK={local} but this machine has {torch.cuda.device_count()} GPU(s); "
                "use --nproc_per_node no larger than the number of GPUs"
            )
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        dev = torch.device("cpu")
        backend = "gloo"
    if timeout_s is None:
        timeout_s = float(os.environ.get("DDIM_EDU_DIST_TIMEOUT", 600))
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=_dt.timedelta(seconds=timeout_s))
    return Context(rank, world, local, backend), dev


def teardown(ctx: Context) -> None:
    """Leave the process group (after every rank got here)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def agree(ctx: Context, error: str | None, what: str) -> None:
    """Every rank reports its error (or None); if any failed, every rank raises the same message."""
    if not ctx.enabled:
        if error is not None:
            raise DistributedError(f"{what} failed: {error}")
        return
    errors: list[str | None] = [None] * ctx.world
    dist.all_gather_object(errors, error)
    failed = [(r, e) for r, e in enumerate(errors) if e is not None]
    if failed:
        ranks = ", ".join(str(r) for r, _ in failed)
        first = failed[0][1]
        same = all(e == first for _, e in failed)
        detail = first if same else "; ".join(f"rank {r}: {e}" for r, e in failed)
        raise DistributedError(
            f"{what} failed on rank(s) {ranks} of {ctx.world}: {detail}"
            + ("" if len(failed) == ctx.world else " (every rank must see the same files)")
        )


def attempt(ctx: Context, what: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` on every rank; a ``ValueError``/``OSError`` on any rank is raised on all of them."""
    result, error = None, None
    try:
        result = fn()
    except (ValueError, OSError) as err:
        if not ctx.enabled:
            raise
        error = str(err)
    agree(ctx, error, what)
    return result  # type: ignore[return-value]


def broadcast(ctx: Context, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; for configs and small state dicts)."""
    if not ctx.enabled:
        return obj
    box = [obj if ctx.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(ctx: Context, obj: Any) -> list[Any] | None:
    """Every rank's ``obj``, in rank order, on rank 0 (``None`` elsewhere)."""
    if not ctx.enabled:
        return [obj]
    box: list[Any] | None = [None] * ctx.world if ctx.main else None
    dist.gather_object(obj, box, dst=0)
    return box


def all_sum(ctx: Context, value: torch.Tensor) -> torch.Tensor:
    """Sum of a tensor over ranks (in place, returned for convenience)."""
    if ctx.enabled:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def all_min(ctx: Context, value: torch.Tensor) -> torch.Tensor:
    if ctx.enabled:
        dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return value


def shard(ctx: Context, n: int, name: str = "batch_size") -> slice:
    """This rank's rows of a global batch of ``n``: a contiguous block of ``n / world`` rows."""
    if n % ctx.world:
        raise DistributedError(
            f"{name}={n} must be divisible by the number of processes ({ctx.world}): it is the "
            f"global batch, split evenly across ranks; try {name}={ctx.world * max(1, n // ctx.world)}"
        )
    per = n // ctx.world
    return slice(ctx.rank * per, (ctx.rank + 1) * per)


def split_cells(costs: list[float], world: int) -> list[list[int]]:
    """Assign cells (by index) to ``world`` ranks, balancing the summed cost (longest first).

    Every rank gets at least one cell; a world larger than the number of cells is an error.
    """
    if world > len(costs):
        raise DistributedError(
            f"{world} processes for a grid of {len(costs)} cells: every rank needs at least one "
            f"cell; run with --nproc_per_node={len(costs)} or fewer, or add steps/etas to the grid"
        )
    loads = [0.0] * world
    owned: list[list[int]] = [[] for _ in range(world)]
    # longest first; ties broken by index so the split is deterministic
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        r = min(range(world), key=lambda r: (len(owned[r]) > 0, loads[r], r))
        owned[r].append(i)
        loads[r] += costs[i]
    return [sorted(o) for o in owned]
