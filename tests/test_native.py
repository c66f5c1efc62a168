"""mdlearn's native CPU kernels (mdlearn.native) against the eager code: the tanh against
float64, the noise bit for bit, the update+wall passes bit for bit, the hidden pass and whole
steps to rounding, trajectories independent of how a run is cut into chunks, restarts, the
fallbacks. The kernels are built once per machine (~40 s with a cold cache); that needs a C++
compiler, which CI has: these tests fail rather than skip when the build fails."""
import json
import shutil

import numpy as np
import pytest
import torch

import mdlearn as md
from mdlearn import native
from mdlearn.fix import fold_
from mdlearn.forcefield import TDLM
from mdlearn.integrate import FusedStep, fused_step
from mdlearn.random import STREAM_NOISE, KeyedStreams

pytestmark = pytest.mark.skipif(
    not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
    reason="no C++ compiler: the native kernels cannot be built here")


@pytest.fixture(scope="module")
def nk():
    return native.load()


def ulp_error(got: torch.Tensor, ref64: torch.Tensor) -> torch.Tensor:
    spacing = torch.from_numpy(np.spacing(ref64.float().abs().numpy())).double()
    return (got.double() - ref64).abs() / spacing


def test_tanh_within_two_ulp(nk):
    x = torch.cat([torch.linspace(-12, 12, 400_001), torch.randn(200_000) * 2,
                   torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-8, 0.55, -0.55, 0.5499999,
                                 9.0, -9.0, 20.0, 1e30])]).float()
    y = x.clone()
    nk.tanh_(y)
    err = ulp_error(y, torch.tanh(x.double()))
    assert err.max().item() <= 2.0
    assert y[-1].item() == 1.0 and torch.equal(y[:0], y[:0])
    assert str(y[400_001 + 200_000 + 1].item()) == "-0.0"       # the sign of zero is kept
    special = torch.tensor([float("nan"), float("inf"), -float("inf")])
    nk.tanh_(special)
    assert torch.isnan(special[0]) and special[1:].tolist() == [1.0, -1.0]


def test_hidden_pass_matches_float64(nk):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(3, 2, 4, 37, generator=g) * 2
    S = torch.rand(3, 2, 4, 37, generator=g) * 2 - 1
    D, B = torch.empty_like(A), torch.empty_like(A)
    rs = torch.empty(3 * 2 * 4, dtype=torch.float64)
    nk.hidden_pass_(A, S, D, B, rs)
    t = torch.tanh(A.double())
    d = S.double() - t
    assert (D.double() - d).abs().max().item() < 4e-7
    assert (B.double() - d * (1 - t * t)).abs().max().item() < 4e-7
    assert torch.allclose(rs, (d * d).sum(-1).flatten(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="float32 contiguous"):
        nk.hidden_pass_(A.double(), S, D, B, rs)


@pytest.mark.parametrize("M", [5, 37, 600])            # tails of the 16-wide and tiled loops
def test_small_products_match_float64(nk, M):
    g = torch.Generator().manual_seed(M)
    W = torch.randn(6, 4, 3, generator=g)
    X = torch.randn(6, 3, M, generator=g)
    O = torch.empty(6, 4, M)
    nk.small_mm_(W, X, O, 0.5, False)
    ref = 0.5 * torch.bmm(W.double(), X.double())
    assert (O.double() - ref).abs().max().item() < 1e-5
    Wt = torch.randn(6, 3, 4, generator=g)            # op(W) = W^T
    nk.small_mm_(Wt, X, O, 1.0, True)
    assert (O.double() - torch.bmm(Wt.double().transpose(1, 2), X.double())).abs().max() < 1e-5
    A = torch.randn(6, 4, M, generator=g)
    G = torch.empty(6, 4, 3)
    nk.small_mm_nt_(A, X, G)
    ref = torch.bmm(A.double(), X.double().transpose(1, 2))
    assert (G.double() - ref).abs().max().item() < 1e-5 * M ** 0.5
    with pytest.raises(RuntimeError, match="shapes do not match"):
        nk.small_mm_(W, X, torch.empty(6, 5, M), 1.0, False)


def test_noise_rows_equal_keyed_streams_bit_for_bit(nk):
    a = KeyedStreams(5, STREAM_NOISE, [0, 1, 2], [0, 1, 0], 2, "cpu")
    b = KeyedStreams(5, STREAM_NOISE, [0, 1, 2], [0, 1, 0], 2, "cpu")
    x, y = torch.empty(3, 5000), torch.empty(3, 5000)
    for _ in range(2):                       # the generators advance the same way, too
        a.normal_(x, 0.3)
        nk.normal_rows_(y, b.generators, 0.3)
        assert torch.equal(x, y)


def eager_update_fold(x, v, f, xi, a, c, dt):
    """The eager path: _LinearLeapfrog.update_ and fold_ on flat tensors."""
    if xi is not None:
        torch.add(xi, v, alpha=a, out=v)
    elif a != 1.0:
        v.mul_(a)
    v.add_(f, alpha=c)
    x.add_(v, alpha=dt)
    fold_(x, v, -1.0, 1.0)


@pytest.mark.parametrize("noise", [True, False])
@pytest.mark.parametrize("a", [0.999, 1.0])
def test_leapfrog_passes_equal_eager_bit_for_bit(nk, noise, a):
    g = torch.Generator().manual_seed(1)
    H, R, N, M = 3, 4, 5, 37
    ns = H * M * N
    P = ns + 50
    x = torch.rand(R, P, generator=g) * 2 - 1
    v = torch.randn(R, P, generator=g) * 0.05
    G = torch.randn(R, P, generator=g)
    xi = torch.randn(R, P, generator=g) * 0.01 if noise else None
    c, dt = 0.01, 0.01

    def nat(buf):
        return buf[:, :ns].view(R, H, M, N).permute(1, 0, 3, 2)
    XT, VT, GT = nat(x).contiguous(), nat(v).contiguous(), nat(G).contiguous()
    Dm = torch.randn(H, R, N, M, generator=g)
    w = torch.rand(H, R, generator=g)
    xw, vw = x[:, ns:].clone(), v[:, ns:].clone()
    out = nk.leapfrog_spins_(XT, VT, GT, Dm, w, xi, a, c, dt, -1.0, 1.0)
    out |= nk.leapfrog_rows_(xw, vw, G[:, ns:], None if xi is None else xi[:, ns:], a, c, dt,
                             -1.0, 1.0)
    assert out is False
    # eager: the spin forces finished as FT.addcmul_(D, w, value=-1), then update and fold
    F = G.clone()
    nat(F).copy_(GT.addcmul(Dm, w.view(H, R, 1, 1), value=-1.0))
    x2, v2 = x.clone(), v.clone()
    eager_update_fold(x2, v2, F, xi, a, c, dt)
    assert torch.equal(XT, nat(x2)) and torch.equal(VT, nat(v2))
    assert torch.equal(xw, x2[:, ns:]) and torch.equal(vw, v2[:, ns:])
    assert (x2.abs() > 1).sum() == 0 and (x.abs() + v.abs() * 0.02 > 1).any()   # walls hit


def test_leapfrog_reports_overshoots_wider_than_the_box(nk):
    x = torch.tensor([[0.9, 0.0, -0.9]])
    v = torch.tensor([[300.0, 1.0, -50.0]])       # dt v: 3 (beyond the far wall), 0.01, -0.5
    f = torch.zeros_like(x)
    assert nk.leapfrog_rows_(x, v, f, None, 1.0, 0.0, 0.01, -1.0, 1.0) is True
    fold_(x, v, -1.0, 1.0, mode=md.fix.FOLD_GENERAL)   # what FusedStep does next
    ref_x, flip = md.fix.fold(torch.tensor([[3.9, 0.01, -1.4]]))
    assert torch.allclose(x, ref_x, atol=1e-6)
    assert v.tolist() == [[300.0, 1.0, 50.0]]           # 2 mirrors, none, 1 mirror


def make_step_system(dtype=torch.float32, M=23, R=4, N=5, L=4, N0=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = (np.where(torch.rand(M, N0, generator=g).numpy() > 0.5, 1.0, -1.0),
            np.eye(2)[torch.randint(0, 2, (M,), generator=g).numpy()] * 2 - 1)
    s = md.System.create(md.Network(N0, N, L, 2), data, samples=R, seed=seed, dtype=dtype,
                         kT=1e-3)
    s.x.mul_(1.05).clamp_(-1, 1)               # coordinates at the walls
    s.v.normal_(0.0, 0.05, generator=g)
    return s


def streams_for(s):
    return KeyedStreams(3, STREAM_NOISE, s.sample.tolist(), s.replica.tolist(), 0, "cpu")


@pytest.mark.parametrize("integ", ["paper", "literal", "nve"])
def test_native_steps_match_eager_to_rounding(nk, integ):
    def one():
        s = make_step_system()
        if integ == "nve":
            return s, md.integrate.NVE(dt=0.02), None
        return s, md.integrate.PaperLangevin(dt=0.02, eta=0.05, kT=1e-3,
                                             scheme="per-step" if integ == "paper"
                                             else "literal"), streams_for(s)
    (s1, i1, st1), (s2, i2, st2) = one(), one()
    ff1, ff2 = TDLM(normalize=True), TDLM(normalize=True)
    fused_step(s1, ff1, i1, md.fix.ReflectiveWall(), st1, n=8, native=True)
    assert i1._fast.native and i1._fast._native_module(s1, st1) is not None
    fused_step(s2, ff2, i2, md.fix.ReflectiveWall(), st2, n=8)
    assert (s1.x - s2.x).abs().max().item() < 1e-5
    assert (s1.v - s2.v).abs().max().item() < 1e-5
    assert (s1.f - s2.f).abs().max().item() < 1e-4 * s2.f.abs().max().item()
    assert s1.x.abs().max().item() <= 1.0
    # the forces left in system.f are those of the last state, complete (-w D included)
    f_last = s1.f.clone()
    ff1.compute(s1)
    # (one more evaluation from the final state differs: f_last belongs to the state before
    # the last update, as in the eager step)
    assert not torch.equal(f_last, s1.f) or integ == "nve"


def test_native_trajectory_does_not_depend_on_chunks(nk):
    def run(chunks):
        s = make_step_system(seed=2)
        st = streams_for(s)
        integ = md.integrate.PaperLangevin(dt=0.02, eta=0.05, kT=1e-3)
        ff, wall = TDLM(), md.fix.ReflectiveWall()
        for n in chunks:
            fused_step(s, ff, integ, wall, st, n=n, native=True)
        return s
    a, b = run([10]), run([1, 2, 3, 1, 3])
    assert torch.equal(a.x, b.x) and torch.equal(a.v, b.v) and torch.equal(a.f, b.f)


def test_simulation_native_restart_equals_uninterrupted(nk, tmp_path):
    def sim():
        s = make_step_system(seed=4)
        out = md.Simulation(s, TDLM(normalize=True),
                            md.integrate.PaperLangevin(dt=0.02, eta=0.05, kT=1e-3), seed=1,
                            progress=False, native=True)
        out.fixes.append(md.fix.ReflectiveWall())
        return out
    a = sim()
    a.run(12)
    b = sim()
    b.run(5)
    b.save_checkpoint(str(tmp_path / "c.pt"))
    c = md.Simulation.from_checkpoint(str(tmp_path / "c.pt"), progress=False, native=True)
    c.run(7)
    assert c.step == 12
    assert torch.equal(a.system.x, c.system.x) and torch.equal(a.system.v, c.system.v)
    with pytest.raises(md.MDLearnError, match="native must be True or False"):
        md.Simulation(make_step_system(), TDLM(), native="yes")


def test_native_with_replica_spawn_matches_eager(nk):
    """A spawn changes R mid-run: the native step rebuilds its buffers and keeps matching the
    eager step (same noise streams, to rounding)."""
    def sim(native_):
        s = make_step_system(seed=5, R=2)
        out = md.Simulation(s, TDLM(normalize=True),
                            md.integrate.PaperLangevin(dt=0.02, eta=0.05, kT=1e-3), seed=2,
                            progress=False, native=native_)
        out.fixes.append(md.fix.ReflectiveWall())
        out.fixes.append(md.fix.SpawnReplicas(n=3, t_w=4))
        return out
    a, b = sim(True), sim(False)
    a.run(10)
    b.run(10)
    assert a.system.R == b.system.R == 6
    assert (a.system.x - b.system.x).abs().max().item() < 1e-5
    assert a.integrator._fast._shadow[0].shape[1] == 6        # the native buffers follow R


def test_native_falls_back_with_a_warning_where_it_does_not_apply(nk):
    md.integrate._warned.clear()
    s1 = make_step_system(dtype=torch.float64)
    i1, i2 = md.integrate.Langevin(dt=0.02), md.integrate.Langevin(dt=0.02)
    with pytest.warns(RuntimeWarning, match="float64"):
        fused_step(s1, TDLM(), md.integrate.NVE(), md.fix.ReflectiveWall(), None, n=2,
                   native=True)
    s3 = make_step_system()
    with pytest.warns(RuntimeWarning, match="not Langevin"):
        fused_step(s3, TDLM(), i1, md.fix.ReflectiveWall(), streams_for(s3), n=3, native=True)
    # the fallback is the eager step itself
    a, b = make_step_system(), make_step_system()
    fused_step(a, TDLM(), i1, md.fix.ReflectiveWall(), streams_for(a), n=3, native=True)
    fused_step(b, TDLM(), i2, md.fix.ReflectiveWall(), streams_for(b), n=3)
    assert torch.equal(a.x, b.x)


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("MDLEARN_NATIVE", "0")
    with pytest.raises(native.NativeUnavailable, match="MDLEARN_NATIVE=0"):
        _load_fresh()
    assert native.available() is False
    assert native.unavailable_reason() == "native kernels disabled by MDLEARN_NATIVE=0"
    md.integrate._warned.clear()
    a, b = make_step_system(), make_step_system()
    integ = md.integrate.PaperLangevin(dt=0.02, eta=0.05, kT=1e-3)
    with pytest.warns(RuntimeWarning, match="MDLEARN_NATIVE=0"):
        fused_step(a, TDLM(), integ, md.fix.ReflectiveWall(), streams_for(a), n=3, native=True)
    fused_step(b, TDLM(), md.integrate.PaperLangevin(dt=0.02, eta=0.05, kT=1e-3),
               md.fix.ReflectiveWall(), streams_for(b), n=3)
    assert torch.equal(a.x, b.x)               # the eager step ran


def _load_fresh():
    """native.load() as on a first call (the module is cached after the first build)."""
    saved = native._module
    native._module = None
    try:
        return native.load()
    finally:
        native._module = saved


def test_bench_native_rows(nk, capsys):
    from mdlearn import bench
    tiny = ["--M", "12", "--N", "3", "--L", "3", "--N0", "5", "--R", "2", "--steps", "2",
            "--repeat", "1", "--warmup", "1", "--no-baseline"]
    assert bench.main(tiny + ["--native", "on", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["native"] is True and res["config"]["native"] == "on"
    assert [r["name"] for r in res["rows"]][:2] == ["engine", "engine_eager"]
    assert bench.main(tiny + ["--native", "off"]) == 0
    out = capsys.readouterr().out
    assert "native" not in out.split("\n\n")[1]
    assert bench.main(tiny + ["--native", "on", "--dtype", "float64"]) == 2
    assert "float32 on the CPU only" in capsys.readouterr().err


def test_loading_does_not_change_the_build_name(nk):
    """cpp_extension.load appends to the flag lists it is given: the cached build must keep
    its name (else the next process or load() would build again)."""
    name = native.build_name()
    _load_fresh()
    assert native.build_name() == name


def test_a_failed_first_step_leaves_the_forces_alone(nk):
    s = make_step_system(R=4)
    f0 = s.f.clone()
    wrong = streams_for(make_step_system(R=3))           # one generator short
    for n in (1, 5):
        with pytest.raises(ValueError, match="rows for 3 configurations"):
            fused_step(s, TDLM(), md.integrate.PaperLangevin(), md.fix.ReflectiveWall(), wrong,
                       n=n, native=True)
        assert torch.equal(s.f, f0)


def test_huge_and_infinite_velocities_stay_finite_or_infinite(nk):
    """No wall: the update leaves x = inf and v = inf as they are (no NaN from inf * 0)."""
    x = torch.tensor([[0.0, 0.0, 0.5]])
    v = torch.tensor([[-2e38, float("inf"), 3e38]])
    f = torch.zeros_like(x)
    nk.leapfrog_rows_(x, v, f, None, 1.0, 0.0, 1.0, -float("inf"), float("inf"))
    assert not torch.isnan(x).any() and not torch.isnan(v).any()
    assert torch.equal(v, torch.tensor([[-2e38, float("inf"), 3e38]]))
    assert x[0, 1].item() == float("inf")


def test_native_fallback_names_a_wall_subclass(nk):
    class MyWall(md.fix.ReflectiveWall):
        pass
    md.integrate._warned.clear()
    s = make_step_system()
    with pytest.warns(RuntimeWarning, match="not MyWall"):
        fused_step(s, TDLM(), md.integrate.NVE(), MyWall(), None, n=2, native=True)


def test_bench_native_on_refuses_a_step_the_kernels_do_not_take(nk, capsys):
    from mdlearn import bench
    tiny = ["--M", "12", "--N", "3", "--L", "1", "--N0", "5", "--R", "2", "--steps", "2",
            "--repeat", "1", "--warmup", "1", "--no-baseline"]
    assert bench.main(tiny + ["--native", "on"]) == 2
    assert "hidden layers" in capsys.readouterr().err
    assert bench.main(tiny + ["--native", "auto", "--json"]) == 0       # auto: eager, said so
    assert json.loads(capsys.readouterr().out)["native"] is False

