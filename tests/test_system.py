"""System construction, views and validation."""
import numpy as np
import pytest
import torch

import mdlearn as md
from conftest import make_arrays


def test_views_share_memory_and_order(arrays):
    inputs, targets, spins, weights = arrays
    s = md.System.from_arrays(inputs, targets, spins, weights)
    for k, t in enumerate(spins):
        assert torch.equal(s.spins[k], t)
    for k, t in enumerate(weights):
        assert torch.equal(s.weights[k], t)
    s.weights[1].fill_(0.25)
    assert (s.x[:, s.layer_slice("J", 2)] == 0.25).all()
    assert s.x.is_contiguous() and s.x.shape == s.v.shape == s.f.shape == s.m.shape
    assert s.sample.tolist() == [0, 1] and s.replica.tolist() == [0, 0]


def test_float32_and_device_taken_from_tensors():
    inputs, targets, spins, weights = make_arrays(dtype=torch.float32)
    s = md.System.from_arrays(inputs, targets, spins, weights)
    assert s.dtype == torch.float32 and s.x.device.type == "cpu"


def test_velocities_given():
    inputs, targets, spins, weights = make_arrays()
    v = torch.full((2, sum(t[0].numel() for t in spins + weights)), 0.1, dtype=torch.float64)
    s = md.System.from_arrays(inputs, targets, spins, weights, velocities=v)
    assert torch.equal(s.v, v)


@pytest.mark.parametrize("mutate,match", [
    (lambda a: a[2].__setitem__(0, a[2][0][:, :3]), "spins\\[0\\]"),
    (lambda a: a[3].__setitem__(1, a[3][1][:, :, :2]), "weights\\[1\\]"),
    (lambda a: a[3][0].__setitem__((0, 0, 0), 1.5), "weights\\[0\\]"),
    (lambda a: a[2][1].__setitem__((1, 0, 0), -3.0), "spins\\[1\\]"),
    (lambda a: a[0].__setitem__((0, 0), float("nan")), "inputs"),
    (lambda a: a[2].pop(), "spin layers"),
])
def test_bad_arrays_raise_clear_error(mutate, match):
    a = list(make_arrays())
    a[2] = list(a[2]); a[3] = list(a[3])
    mutate(a)
    with pytest.raises(ValueError, match=match):
        md.System.from_arrays(*a)


def test_create_is_independent_of_sample_count():
    data = md.datasets.random_scenario(n_train=5, n_test=2, n_in=7)
    net = md.Network(7, 3, 3, 2)
    s2 = md.System.create(net, data, samples=2, seed=4, kT=1e-3)
    s5 = md.System.create(net, data, samples=5, seed=4, kT=1e-3)
    assert torch.equal(s2.x, s5.x[:2]) and torch.equal(s2.v, s5.v[:2])
    assert s5.x.abs().max() < 1
    # Maxwell-Boltzmann: variance kT/m
    big = md.System.create(net, data, samples=50, seed=1, kT=1e-3)
    assert abs(big.v.var().item() / 1e-3 - 1) < 0.05
    zero = md.System.create(net, data, samples=2, seed=1, kT=1e-3, velocities="zero")
    assert (zero.v == 0).all()


def test_create_bad_input():
    data = md.datasets.random_scenario(n_train=5, n_in=7)
    with pytest.raises(ValueError, match="n_in"):
        md.System.create(md.Network(8, 3, 3, 2), data)
    with pytest.raises(ValueError, match="dtype"):
        md.System.create(md.Network(7, 3, 3, 2), data, dtype="float16")
    with pytest.raises(ValueError, match="samples"):
        md.System.create(md.Network(7, 3, 3, 2), data, samples=0)
    with pytest.raises(ValueError, match="kT"):
        md.System.create(md.Network(7, 3, 3, 2), data, kT=-1.0)


def test_replicate_index():
    s = md.System.from_arrays(*make_arrays(R=2))
    x = s.x.clone()
    s.replicate(3)
    assert s.R == 6
    assert s.sample.tolist() == [0, 0, 0, 1, 1, 1]
    assert s.replica.tolist() == [0, 1, 2, 0, 1, 2]
    assert torch.equal(s.x[0], x[0]) and torch.equal(s.x[5], x[1])
    assert s.spins[0].shape[0] == 6
