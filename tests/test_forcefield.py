"""Forces of the TDLM Hamiltonian against autograd and finite differences."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck

import mdlearn as md
from conftest import make_arrays

shapes = st.tuples(st.integers(1, 4),   # L
                   st.integers(1, 4),   # N
                   st.integers(1, 5),   # M
                   st.integers(1, 3),   # R
                   st.integers(1, 6),   # N0
                   st.integers(0, 10_000))  # seed

FFS = [md.forcefield.TDLM(), md.forcefield.TDLM(normalize=True),
       md.forcefield.TDLM(energy="sq"), md.forcefield.TDLM(normalize=True, energy="sq")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes, st.sampled_from(range(len(FFS))))
def test_forces_match_autograd(shape, k):
    L, N, M, R, N0, seed = shape
    ff = FFS[k]
    sys_ = md.System.from_arrays(*make_arrays(L=L, N=N, M=M, R=R, N0=N0, seed=seed))
    E = ff.compute(sys_)
    f = sys_.f.clone()
    E_ref = md.forcefield.ForceField.autograd_compute(ff, sys_)
    assert E.shape == (R, L)
    assert (E >= 0).all()
    torch.testing.assert_close(E, E_ref, rtol=1e-12, atol=1e-13)
    scale = f.abs().max().clamp_min(1e-300)
    assert ((f - sys_.f).abs().max() / scale) < 1e-10


@settings(max_examples=15, deadline=None)
@given(shapes)
def test_forces_match_finite_differences(shape):
    L, N, M, R, N0, seed = shape
    ff = md.forcefield.TDLM(normalize=bool(seed % 2))
    s = md.System.from_arrays(*make_arrays(L=L, N=N, M=M, R=R, N0=N0, seed=seed, scale=0.8))
    ff.compute(s)
    f = s.f.clone()
    x0 = s.x.clone()
    h = 1e-6
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, s.P, (min(8, s.P),), generator=g)
    for r in range(R):
        for i in idx.tolist():
            s.x.copy_(x0); s.x[r, i] += h
            ep = ff.compute(s, forces=False)[r].sum().item()
            s.x.copy_(x0); s.x[r, i] -= h
            em = ff.compute(s, forces=False)[r].sum().item()
            fd = -(ep - em) / (2 * h)
            assert abs(fd - f[r, i].item()) <= 1e-6 * max(1.0, abs(fd))
    s.x.copy_(x0)


def test_energy_definition_by_hand():
    inputs, targets, spins, weights = make_arrays(L=2, N=3, M=4, R=1, N0=5)
    s = md.System.from_arrays(inputs, targets, spins, weights)
    E = md.forcefield.TDLM().compute(s)
    D1 = spins[0][0] - torch.tanh(inputs @ weights[0][0].T)
    D2 = targets - torch.tanh(spins[0][0] @ weights[1][0].T)
    assert math.isclose(E[0, 0].item(), D1.norm().item(), rel_tol=1e-13)
    assert math.isclose(E[0, 1].item(), D2.norm().item(), rel_tol=1e-13)
    En = md.forcefield.TDLM(normalize=True).compute(s)
    D1n = spins[0][0] - torch.tanh(inputs @ weights[0][0].T / math.sqrt(5))
    assert math.isclose(En[0, 0].item(), D1n.norm().item(), rel_tol=1e-13)


def test_zero_energy_layer_gives_zero_force_not_nan():
    inputs, targets, spins, weights = make_arrays(L=2, N=3, M=4, R=2, N0=5)
    # make layer 1 satisfied exactly: S_1 = tanh(S_0 J_1^T)
    spins[0] = torch.tanh(torch.einsum("mj,rij->rmi", inputs, weights[0]))
    s = md.System.from_arrays(inputs, targets, spins, weights)
    ff = md.forcefield.TDLM()
    E = ff.compute(s)
    assert torch.isfinite(s.f).all()
    assert (E[:, 0] == 0).all()
    # the zero layer contributes nothing: forces equal those of layer 2 alone
    f_all = s.f.clone()

    class Layer2(md.forcefield.ForceField):
        def energy(self, system, sp, w):
            D = system.targets - torch.tanh(torch.matmul(sp[0], w[1].transpose(1, 2)))
            return torch.linalg.vector_norm(D, dim=(1, 2)).unsqueeze(1)

    Layer2().compute(s)
    torch.testing.assert_close(f_all, s.f, rtol=1e-12, atol=1e-14)


def test_custom_forcefield_by_autograd():
    class Quartic(md.forcefield.ForceField):
        def energy(self, system, spins, weights):
            return sum((w ** 4).sum(dim=(1, 2)) for w in weights)

    s = md.System.from_arrays(*make_arrays(L=2, R=2))
    E = Quartic().compute(s)
    assert E.shape == (2, 1)
    torch.testing.assert_close(s.f[:, s.weight_slice], -4 * s.x[:, s.weight_slice] ** 3)
    assert (s.f[:, s.spin_slice] == 0).all()


def test_bad_options():
    with pytest.raises(ValueError, match="energy"):
        md.forcefield.TDLM(energy="cubic")
    with pytest.raises(ValueError, match="normalize"):
        md.forcefield.TDLM(normalize="yes")


def test_float32_close_to_float64():
    a64 = make_arrays(L=3, N=5, M=7, R=3, N0=9)
    a32 = [a64[0].float(), a64[1].float(), [t.float() for t in a64[2]], [t.float() for t in a64[3]]]
    s64, s32 = md.System.from_arrays(*a64), md.System.from_arrays(*a32)
    ff = md.forcefield.TDLM(normalize=True)
    E64, E32 = ff.compute(s64), ff.compute(s32)
    assert E32.dtype == torch.float64 and s32.f.dtype == torch.float32
    torch.testing.assert_close(E32, E64, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(s32.f.double(), s64.f, rtol=1e-4, atol=1e-5)
