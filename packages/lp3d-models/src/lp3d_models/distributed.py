"""Several processes (ranks) running one command: which one writes, and waiting for each other.

Training on several devices (``training.devices: N``) runs N processes. Lightning starts the other
ranks itself by running the same command again (with ``LOCAL_RANK`` set), and a launcher (torchrun,
SLURM) starts N copies of it: either way every rank runs the same code. The rules:

- only rank 0 writes or deletes shared outputs (run folders, split and config files, stores,
  stage stamps, reports); the others compute the same things and write nothing;
- where a rank needs what rank 0 wrote, every rank waits for the others (:func:`barrier`);
  before the ranks are connected (the first training of a command), each rank decides alone, from
  the same files, and rank 0 has already written what the others read.

The rank comes from the environment, as Lightning reads it, so it is known before any process group
exists. A command started by a launcher that sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` for every rank (torchrun; under SLURM, run torchrun in each task) connects the
ranks at its start (:func:`connect`), so they agree on every step from the first; Lightning then
trains in that process group.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

__all__ = ["rank", "is_rank_zero", "connect", "connected", "barrier", "broadcast"]


def rank() -> int:
    """0 for the first process (the only one without several), a positive number for the others."""
    if "RANK" in os.environ:  # torchrun
        return int(os.environ["RANK"])
    if "LOCAL_RANK" in os.environ:  # Lightning's own launcher (NODE_RANK > 0 on other nodes)
        return int(os.environ["LOCAL_RANK"]) + 1_000_000 * int(os.environ.get("NODE_RANK", 0))
    return int(os.environ.get("SLURM_PROCID", 0))


def is_rank_zero() -> bool:
    """Whether this process writes shared outputs (see the module docstring)."""
    return rank() == 0


def connect() -> None:
    """Connects the ranks of a launcher that started every rank with ``RANK`` and ``WORLD_SIZE`` set
    (module docstring); nothing otherwise (one process, or Lightning's own launcher, whose other
    ranks start later and connect when training starts)."""
    import torch.distributed as dist

    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", 1)) <= 1 or not dist.is_available():
        return
    if dist.is_initialized():
        return
    import torch

    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    # Other ranks wait at barriers while rank 0 alone predicts or smooths: long timeouts.
    dist.init_process_group(backend, timeout=timedelta(days=1))


def connected() -> bool:
    """Whether the ranks are connected (a torch.distributed process group of several ranks exists)."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Waits until every rank is here (nothing to wait for when the ranks are not connected)."""
    if connected():
        import torch.distributed as dist

        dist.barrier()


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (a picklable object; ``value`` itself when not connected)."""
    if not connected():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
