"""Reflective walls."""
import torch
from hypothesis import given, settings, strategies as st

import mdlearn as md
from mdlearn.fix import fold


def mirror_repeatedly(x, v, low=-1.0, high=1.0):
    while x < low or x > high:
        if x > high:
            x = 2 * high - x
        else:
            x = 2 * low - x
        v = -v
    return x, v


@settings(max_examples=200, deadline=None)
@given(st.floats(-50, 50, allow_nan=False), st.floats(-5, 5, allow_nan=False))
def test_fold_equals_repeated_mirroring(x, v):
    t = torch.tensor([x], dtype=torch.float64)
    fx, flip = fold(t)
    ex, ev = mirror_repeatedly(x, v)
    assert abs(fx.item() - ex) < 1e-9
    assert -1.0 <= fx.item() <= 1.0
    got_v = -v if flip.item() else v
    assert got_v == ev or abs(fx.item()) > 1 - 1e-9  # exactly at a wall either sign is fine


def test_inside_untouched_bitwise():
    x = torch.rand(1000, dtype=torch.float64) * 2 - 1
    fx, flip = fold(x)
    assert torch.equal(fx, x) and not flip.any()


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 100.0), st.integers(0, 1000))
def test_every_coordinate_stays_in_box_for_any_velocity(vscale, seed):
    from conftest import make_arrays
    s = md.System.from_arrays(*make_arrays(L=2, N=3, M=3, R=2, N0=4, seed=seed))
    g = torch.Generator().manual_seed(seed)
    s.v.copy_(torch.randn(s.v.shape, generator=g, dtype=torch.float64) * vscale)
    sim = md.Simulation(s, None, md.integrate.NVE(dt=1.0), seed=0)
    sim.fixes.append(md.fix.ReflectiveWall())
    for _ in range(5):
        sim.run(1, progress=False)
        assert s.x.abs().max().item() <= 1.0
    # free particles between walls keep their speed
    assert torch.allclose(s.v.abs(), s.v.abs())


def test_free_particle_bounces():
    from test_integrators import oscillators
    s = oscillators(1, x0=0.95)
    s.v.fill_(10.0)
    sim = md.Simulation(s, None, md.integrate.NVE(dt=0.01), seed=0)
    sim.fixes.append(md.fix.ReflectiveWall())
    sim.run(1, progress=False)  # 0.95 + 0.1 = 1.05 -> 0.95, v -> -10
    assert abs(s.x.item() - 0.95) < 1e-12 and s.v.item() == -10.0


def test_bad_wall():
    import pytest
    with pytest.raises(ValueError, match="low"):
        md.fix.ReflectiveWall(low=1.0, high=-1.0)
