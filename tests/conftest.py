import os

import pytest
import torch

os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def make_arrays(L=3, N=4, M=5, R=2, N0=6, NL=2, dtype=torch.float64, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    sizes = [N0] + [N] * (L - 1) + [NL]
    inputs = torch.where(torch.rand(M, N0, generator=g) > 0.5, 1.0, -1.0).to(dtype)
    targets = torch.where(torch.rand(M, NL, generator=g) > 0.5, 1.0, -1.0).to(dtype)
    spins = [((torch.rand(R, M, sizes[l], generator=g) * 2 - 1) * scale).to(dtype)
             for l in range(1, L)]
    weights = [((torch.rand(R, sizes[l], sizes[l - 1], generator=g) * 2 - 1) * scale).to(dtype)
               for l in range(1, L + 1)]
    return inputs, targets, spins, weights


@pytest.fixture
def arrays():
    return make_arrays()
