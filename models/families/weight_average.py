"""An exponential moving average of a network's weights that never reads the device.

What the GAN families sample from (see ``AdversarialModel.track_generator_ema``). It computes
exactly what ``torch.optim.swa_utils.AveragedModel(net, multi_avg_fn=ema_update(decay),
use_buffers=True)`` computes, and keeps its state-dict layout (``n_averaged``, ``module.<...>``)
so files written with AveragedModel load unchanged. AveragedModel decides on the host whether
an update is the first (a copy) or a later one (the average): two reads of ``n_averaged`` per
step, each a device sync, and a step that cannot be captured in a CUDA graph. Here that
choice is a weight computed on the device: 1 for the first update (``lerp`` with weight 1
returns its end value exactly: ATen computes ``end - (end - start) * (1 - weight)`` for
weights >= 0.5), ``1 - decay`` after.

The floating tensors go through one ``torch._foreach_lerp_`` with the weight as a list of
0-d device tensors. Its multi-tensor CUDA kernel wants weights shaped like the tensors, so
torch runs it as one ``lerp_`` per tensor, the very kernel AveragedModel's update ran (which
is why the two agree bit for bit); inside a captured step the launches cost nothing.
"""
from __future__ import annotations

import copy
import itertools
from collections.abc import Callable

import torch
from torch import nn

#: n updates so far (a 0-d long tensor on the device) -> the decay of the next update, a
#: 0-d float32 tensor on the same device
DecayFn = Callable[[torch.Tensor], torch.Tensor]


class WeightAverage(nn.Module):
    """``module``: a frozen copy of the network it follows; ``n_averaged``: updates so far
    (int64, 0-d, like AveragedModel's). Parameters and buffers are averaged alike (batch
    norm's running statistics included); integer buffers (step counters) are copied."""

    n_averaged: torch.Tensor

    def __init__(self, network: nn.Module, decay: DecayFn) -> None:
        super().__init__()
        self.module = copy.deepcopy(network)
        self.module.requires_grad_(False)
        # on the network's device: the update's weight is computed from it there
        first = next(itertools.chain(network.parameters(), network.buffers()), None)
        device = first.device if first is not None else None
        self.register_buffer("n_averaged", torch.tensor(0, dtype=torch.long, device=device))
        self.decay = decay

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        """Fold ``network``'s current weights into the average: a copy on the first call,
        ``avg <- avg + (1 - d) * (current - avg)`` with ``d = decay(n_averaged)`` after. Every
        op stays on the device (no sync, capturable in a CUDA graph)."""
        averaged = itertools.chain(self.module.parameters(), self.module.buffers())
        current = itertools.chain(network.parameters(), network.buffers())
        floats: dict[torch.dtype, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        ints_avg: list[torch.Tensor] = []
        ints_cur: list[torch.Tensor] = []
        for avg, cur in zip(averaged, current, strict=True):
            avg, cur = avg.detach(), cur.detach()
            if avg.is_floating_point():
                pair = floats.setdefault(avg.dtype, ([], []))
                pair[0].append(avg)
                pair[1].append(cur)
            else:
                ints_avg.append(avg)
                ints_cur.append(cur)

        n = self.n_averaged
        weight = torch.where(n == 0, 1.0, 1 - self.decay(n))  # 1: the first update copies
        for dtype, (avgs, curs) in floats.items():
            w = weight.to(dtype)  # lerp wants its weight in the tensors' dtype
            torch._foreach_lerp_(avgs, curs, [w] * len(avgs))
        if ints_avg:
            torch._foreach_copy_(ints_avg, ints_cur)
        n.add_(1)
