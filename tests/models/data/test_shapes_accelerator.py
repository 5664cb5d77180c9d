"""The shapes renderer's accelerator path: the CPU's images bit for bit, without host reads.

On the CPU the renderer groups the batch by shape (reading the group sizes on the host); on
any other device it tests every shape and selects per image.  Both run here on CPU tensors
through ``render_index(..., grouped=...)``; the CUDA tests check the real device.
"""
from __future__ import annotations

import pytest
import torch

from models.data.shapes import FACTOR_SIZES, NUM_IMAGES, SIZES, ShapesSplit, factors_to_index, render_index

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def covering_indices(seed: int = 0) -> torch.Tensor:
    """Every (shape, scale, rotation) at the four corner positions and two random ones, shuffled."""
    g = torch.Generator().manual_seed(seed)
    n_shape, n_scale, n_rot, n_x, n_y = FACTOR_SIZES
    combos = torch.cartesian_prod(torch.arange(n_shape), torch.arange(n_scale), torch.arange(n_rot))
    corners = torch.tensor([[0, 0], [0, n_y - 1], [n_x - 1, 0], [n_x - 1, n_y - 1]])
    rows = []
    for _ in range(2):
        rows.append(torch.cat([combos, torch.randint(0, n_x, (len(combos), 2), generator=g)], 1))
    for corner in corners:
        rows.append(torch.cat([combos, corner.expand(len(combos), 2)], 1))
    index = factors_to_index(torch.cat(rows))
    return index[torch.randperm(len(index), generator=g)]


@pytest.mark.parametrize("size", SIZES)
def test_select_path_renders_the_grouped_bits(size):
    index = covering_indices()
    selected = render_index(index, size, grouped=False)
    assert selected.shape == (len(index), 1, size, size) and selected.dtype == torch.float32
    assert torch.equal(selected, render_index(index, size, grouped=True))
    # An image depends only on its index, whatever else is in the batch.
    assert torch.equal(render_index(index[:7], size, grouped=False), selected[:7])


@pytest.mark.parametrize("size", SIZES)
def test_select_path_edge_batches(size):
    index = covering_indices(seed=1)
    shape = index.div(NUM_IMAGES // FACTOR_SIZES[0], rounding_mode="floor")
    batches = [index[:1], index[-1:], torch.tensor([0]), torch.tensor([NUM_IMAGES - 1])]
    batches += [index[shape == k][:50] for k in range(FACTOR_SIZES[0])]  # all one shape
    for batch in batches:
        assert torch.equal(render_index(batch, size, grouped=False), render_index(batch, size, grouped=True))
    for grouped in (False, True):
        empty = render_index(torch.zeros(0, dtype=torch.int64), size, grouped=grouped)
        assert empty.shape == (0, 1, size, size) and empty.dtype == torch.float32


def test_select_path_reads_nothing_on_the_host(host_read_spy):
    index = covering_indices()[:256]
    with host_read_spy:
        render_index(index, 64, grouped=False)
    assert host_read_spy.host_reads == []
    # The spy does see the grouped path's read, so the empty list above means something.
    with host_read_spy:
        render_index(index, 64, grouped=True)
    assert "bincount" in host_read_spy.host_reads


def test_cpu_default_is_the_grouped_path(host_read_spy):
    index = covering_indices()[:64]
    with host_read_spy:
        images = render_index(index)
    assert "bincount" in host_read_spy.host_reads
    assert torch.equal(images, render_index(index, grouped=True))


def test_other_devices_default_to_the_select_path(host_read_spy):
    # The meta device stands in for an accelerator: the grouped path cannot run there at
    # all (bincount has no meta kernel and nothing can be read back), so a rendered batch
    # shows the default picked the select path, and the split's gather stays on the device.
    split = ShapesSplit(covering_indices()[:100], size=28).to("meta")
    idx = torch.arange(16, device="meta")
    with host_read_spy:
        images = render_index(split.indices)
        batch = split.batch(idx)
    assert host_read_spy.host_reads == []
    assert images.device.type == "meta" and images.shape == (100, 1, 64, 64)
    assert batch.device.type == "meta" and batch.shape == (16, 1, 28, 28) and batch.dtype == torch.float32


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("size", SIZES)
def test_cuda_renders_the_cpu_bits_without_syncing(size):
    index = covering_indices()
    pick = torch.randperm(len(index), generator=torch.Generator().manual_seed(2))[:512]
    split = ShapesSplit(index, size).to("cuda")
    dev_index, dev_pick = index.cuda(), pick.cuda()
    render_index(dev_index[:1], size)  # the first call on a device builds its tables (a copy that syncs)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        images = render_index(dev_index, size)
        batch = split.batch(dev_pick)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert images.device.type == "cuda" and batch.device.type == "cuda"
    assert torch.equal(images.cpu(), render_index(index, size))
    assert torch.equal(batch.cpu(), render_index(index[pick], size))


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("size", SIZES)
def test_cuda_graph_captures_a_shapes_batch(size):
    g = torch.Generator().manual_seed(3)
    split = ShapesSplit(covering_indices(), size).to("cuda")
    static_idx = torch.randint(0, len(split), (128,), generator=g).cuda()
    split.batch(static_idx)  # eager warm-up: builds the tables before the capture
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        split.batch(static_idx)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = split.batch(static_idx)
    fresh = torch.randint(0, len(split), (128,), generator=g)
    static_idx.copy_(fresh.cuda())
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(out.cpu(), render_index(split.indices.cpu()[fresh], size))
