"""Integrators on a harmonic system: exact stationary variances and sampled runs."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

import mdlearn as md
from mdlearn.integrate import stationary_variance


def oscillators(R, x0=0.0, dtype=torch.float64, mass=1.0):
    """R independent 1-D particles (a network with one weight and nothing else)."""
    inputs = torch.ones(1, 1, dtype=dtype)
    targets = torch.ones(1, 1, dtype=dtype)
    w = torch.full((R, 1, 1), x0, dtype=dtype)
    return md.System.from_arrays(inputs, targets, [], [w], mass=mass)


def one_step_map(integ, k, m):
    """Linear map (x, v) -> (x', v') and noise vector, from the integrator itself."""
    s = oscillators(3, mass=m)
    s.x[:, 0] = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    s.v[:, 0] = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)

    class Unit:  # noise = 1 for the third configuration only
        def normal_(self, buf):
            buf.zero_(); buf[2] = 1.0
            return buf

    md.forcefield.Harmonic(k).compute(s)
    integ.step(s, Unit())
    A = np.array([[s.x[0, 0].item(), s.x[1, 0].item()], [s.v[0, 0].item(), s.v[1, 0].item()]])
    B = np.array([[s.x[2, 0].item()], [s.v[2, 0].item()]])
    return A, B


CASES = [
    md.integrate.PaperLangevin(dt=0.1, eta=0.2, kT=0.3, scheme="per-step"),
    md.integrate.PaperLangevin(dt=0.01, eta=1e-3, kT=1e-5, scheme="per-step"),
    md.integrate.PaperLangevin(dt=0.1, eta=0.2, kT=0.3, scheme="literal"),
    md.integrate.PaperLangevin(dt=0.01, eta=1e-3, kT=1e-5, scheme="literal"),
    md.integrate.Langevin(dt=0.3, gamma=2.0, kT=0.7),
    md.integrate.Langevin(dt=1.5, gamma=0.5, kT=0.1),
]


@pytest.mark.parametrize("integ", CASES, ids=lambda i: str(i.config()))
@pytest.mark.parametrize("k,m", [(1.0, 1.0), (3.0, 2.0)])
def test_exact_stationary_variance_matches_closed_form(integ, k, m):
    A, B = one_step_map(integ, k, m)
    S = scipy.linalg.solve_discrete_lyapunov(A, B @ B.T)
    vx, vv = stationary_variance(integ, k, m)
    assert math.isclose(S[0, 0], vx, rel_tol=1e-9)
    assert math.isclose(S[1, 1], vv, rel_tol=1e-9)


def test_langevin_samples_kT_exactly():
    integ = md.integrate.Langevin(dt=0.5, gamma=1.0, kT=0.2)
    for k in (0.5, 2.0, 7.0):  # stable for dt^2 k < 4
        A, B = one_step_map(integ, k, 1.0)
        S = scipy.linalg.solve_discrete_lyapunov(A, B @ B.T)
        assert math.isclose(S[0, 0], 0.2 / k, rel_tol=1e-10)
        assert math.isclose(S[1, 1], 0.2, rel_tol=1e-10)


def test_per_step_free_particle_samples_kT_and_literal_samples_kT_dt():
    kT, dt, eta = 1e-5, 1e-2, 1e-3
    ps = md.integrate.PaperLangevin(dt=dt, eta=eta, kT=kT, scheme="per-step")
    lit = md.integrate.PaperLangevin(dt=dt, eta=eta, kT=kT, scheme="literal")
    assert ps.stationary_kinetic_temperature() == kT
    expected = kT * dt * (2 - eta) / (2 - eta * dt)
    assert math.isclose(lit.stationary_kinetic_temperature(), expected, rel_tol=1e-14)
    # closed form with k -> 0 gives the same velocity variance
    assert math.isclose(stationary_variance(lit, 1e-12)[1], expected, rel_tol=1e-9)
    assert math.isclose(stationary_variance(ps, 1e-12)[1], kT, rel_tol=1e-9)


@pytest.mark.parametrize("integ", [
    md.integrate.PaperLangevin(dt=0.1, eta=0.3, kT=0.01, scheme="per-step"),
    md.integrate.PaperLangevin(dt=0.5, eta=1.0, kT=0.01, scheme="literal"),
    md.integrate.Langevin(dt=0.5, gamma=2.0, kT=0.01),
], ids=["per-step", "literal", "langevin"])
def test_sampled_variance_agrees(integ):
    """R = 4000 oscillators, 5 snapshots 40 steps apart after 200 steps of equilibration.
    The relative standard error of each variance estimate is about sqrt(2 / 20000) = 1%;
    the tolerance is 5%."""
    k = 1.0
    s = oscillators(4000)
    sim = md.Simulation(s, md.forcefield.Harmonic(k), integ, seed=3)
    sim.run(200, progress=False)
    xs, vs = [], []
    for _ in range(5):
        sim.run(40, progress=False)
        xs.append(s.x[:, 0].clone()); vs.append(s.v[:, 0].clone())
    vx = torch.stack(xs).var().item(); vv = torch.stack(vs).var().item()
    ex, ev = stationary_variance(integ, k)
    assert abs(vx / ex - 1) < 0.05, (vx, ex)
    assert abs(vv / ev - 1) < 0.05, (vv, ev)


def test_nve_conserves_energy():
    s = oscillators(1, x0=0.5)
    integ = md.integrate.NVE(dt=0.01)
    sim = md.Simulation(s, md.forcefield.Harmonic(1.0), integ, seed=0)
    amps = []
    for _ in range(20):  # 20 * 700 steps ~ 22 periods
        xs = []
        for _ in range(700):
            sim.run(1, progress=False)
            xs.append(abs(s.x[0, 0].item()))
        amps.append(max(xs))
    assert max(amps) - min(amps) < 1e-4
    assert abs(amps[0] - 0.5) < 1e-3


def test_zero_temperature_draws_no_noise():
    s = oscillators(2, x0=0.3)
    integ = md.integrate.PaperLangevin(kT=0.0)
    sim = md.Simulation(s, md.forcefield.Harmonic(1.0), integ, seed=0)
    sim.run(5, progress=False)
    assert s.x[0, 0].item() == s.x[1, 0].item()


@pytest.mark.parametrize("kwargs,match", [
    (dict(dt=-1e-2), "dt"), (dict(dt=0.0), "dt"), (dict(kT=-1.0), "kT"), (dict(eta=-0.1), "eta"),
    (dict(eta=2.0), "eta"), (dict(eta=3.5), "eta"), (dict(scheme="verlet"), "scheme"),
    (dict(dt=float("nan")), "dt"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        md.integrate.PaperLangevin(**kwargs)


def test_bad_langevin_parameters():
    with pytest.raises(ValueError, match="gamma"):
        md.integrate.Langevin(gamma=-1)
    with pytest.raises(ValueError, match="dt"):
        md.integrate.NVE(dt=-1)


def test_coefficients_follow_the_system_masses():
    """An integrator used on one system and then on another with other masses uses the new
    masses (its cache must not be fooled by a freed mass vector's id being reused)."""
    integ = md.integrate.Langevin(dt=0.3, gamma=2.0, kT=0.7)
    for m in (1.0, 2.0, 1.0, 4.0):
        s = oscillators(2, mass=m)
        assert math.isclose(integ._coeffs(s)[1], 0.3 / m, rel_tol=1e-15)
        assert math.isclose(integ._coeffs(s)[2], math.sqrt(0.7 * (1 - math.exp(-1.2)) / m),
                            rel_tol=1e-12)
        del s
