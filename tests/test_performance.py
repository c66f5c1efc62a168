"""The optimised step (fast TDLM forces, in-place walls, threaded noise, fused step) against
the plain reference, the noise streams' statistics, and ``mdlearn bench`` at a tiny size.
No timing is asserted here: speed is measured by ``mdlearn bench`` (docs/performance.md)."""
import json
import math
import os
import shutil

import pytest
import torch

import mdlearn as md
from mdlearn import random as mrandom
from mdlearn.fix import fold, fold_
from mdlearn.forcefield import TDLM, _TDLMStacked, _TDLMWork
from mdlearn.integrate import FusedStep, fused_step
from mdlearn.random import STREAM_NOISE, KeyedStreams

DTYPES = [torch.float32, torch.float64]

# torch.compile's CPU backend writes C++ and needs a compiler; the compiled tests take ~30 s
# in all (cold cache). MDLEARN_SKIP_COMPILE=1 leaves them out of a quick local run.
needs_compiler = pytest.mark.skipif(
    bool(os.environ.get("MDLEARN_SKIP_COMPILE"))
    or not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
    reason="no C++ compiler for torch.compile (or MDLEARN_SKIP_COMPILE is set)")
TOL = {torch.float32: 2e-5, torch.float64: 1e-12}


def make_system(sizes, M=7, R=3, dtype=torch.float64, seed=0, scale=1.0, targets=None):
    g = torch.Generator().manual_seed(seed)
    L = len(sizes) - 1
    inputs = torch.where(torch.rand(M, sizes[0], generator=g) > 0.5, 1.0, -1.0)
    if targets is None:
        targets = torch.where(torch.rand(M, sizes[L], generator=g) > 0.5, 1.0, -1.0)
    spins = [(torch.rand(R, M, sizes[l], generator=g) * 2 - 1) * scale for l in range(1, L)]
    weights = [(torch.rand(R, sizes[l], sizes[l - 1], generator=g) * 2 - 1) * scale
               for l in range(1, L + 1)]
    return md.System.from_arrays(inputs.to(dtype), targets.to(dtype),
                                 [s.to(dtype) for s in spins], [w.to(dtype) for w in weights])


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


SHAPES = {
    "stacked": (9, 4, 4, 4, 2),      # uniform hidden widths: the stacked fast path
    "stacked-L2": (9, 4, 2),         # one hidden layer, no middle layers
    "per-layer": (9, 5, 3, 4, 2),    # non-uniform hidden widths: the per-layer fast path
    "L1": (9, 2),                    # no hidden layer
}


# --------------------------------------------------------------------------- forces
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("normalize,energy", [(False, "norm"), (True, "norm"), (True, "sq")])
def test_fast_forces_equal_reference(shape, dtype, normalize, energy):
    s = make_system(SHAPES[shape], dtype=dtype, seed=3)
    ff = TDLM(normalize=normalize, energy=energy)
    E_ref = ff.compute_reference(s)
    f_ref = s.f.clone()
    s.f.fill_(float("nan"))               # every force must be written, nothing accumulated
    E = ff.compute(s)
    assert E.dtype == torch.float64 and E.shape == (s.R, s.L)
    assert rel_err(E, E_ref) < TOL[dtype]
    assert rel_err(s.f, f_ref) < TOL[dtype]
    kind = _TDLMStacked if shape.startswith("stacked") else _TDLMWork
    assert type(ff._work) is kind
    # energies only
    E2 = ff.compute(s, forces=False)
    assert torch.equal(E2, E)


@pytest.mark.parametrize("shape", ["stacked", "per-layer"])
def test_fast_forces_match_autograd(shape):
    s = make_system(SHAPES[shape], dtype=torch.float64, seed=5)
    ff = TDLM(normalize=True)
    E = ff.compute(s)
    f = s.f.clone()
    E_ag = md.forcefield.ForceField.autograd_compute(ff, s)
    assert rel_err(E, E_ag) < 1e-12 and rel_err(f, s.f) < 1e-12


@pytest.mark.parametrize("shape", ["stacked", "per-layer"])
def test_layer_with_zero_energy_has_zero_force(shape):
    # output layer: weights 0, so tanh(0) = 0 = targets: E_L = 0 exactly
    sizes = SHAPES[shape]
    s = make_system(sizes, dtype=torch.float64, targets=torch.zeros(7, sizes[-1]))
    s.weights[-1].zero_()
    ff = TDLM()
    E = ff.compute(s)
    assert torch.all(E[:, -1] == 0)
    assert torch.isfinite(s.f).all()
    assert torch.all(s.weight_forces[-1] == 0)
    ff.compute_reference(s)
    f_ref = s.f.clone()
    ff.compute(s)
    assert rel_err(s.f, f_ref) < 1e-12


def test_compute_returns_a_fresh_tensor_and_workspace_follows_the_system():
    s = make_system(SHAPES["stacked"], dtype=torch.float64)
    ff = TDLM()
    E1 = ff.compute(s)
    s.x.mul_(0.5)
    E2 = ff.compute(s)
    assert not torch.equal(E1, E2)          # E1 was not overwritten
    s.replicate(2)                          # new buffers and R: the workspace is rebuilt
    E3 = ff.compute(s)
    assert E3.shape == (s.R, s.L)
    assert rel_err(E3, ff.compute_reference(s)) < 1e-12
    s.inputs.mul_(-1)                       # data changed in place: picked up
    assert rel_err(ff.compute(s), ff.compute_reference(s)) < 1e-12


# --------------------------------------------------------------------------- walls
@pytest.mark.parametrize("branch", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_fold_inplace_equals_reference(branch, dtype):
    g = torch.Generator().manual_seed(1)
    for scale in (1.01, 1.9, 3.0, 40.0):
        x = ((torch.rand(3, 2000, generator=g, dtype=torch.float64) * 2 - 1) * scale).to(dtype)
        v = torch.randn(x.shape, generator=g, dtype=torch.float64).to(dtype)
        fx, flip = fold(x)
        ev = torch.where(flip, -v, v)
        x2, v2 = x.clone(), v.clone()
        fold_(x2, v2, branch=branch)
        tol = 8 * scale * torch.finfo(dtype).eps
        assert (x2 - fx).abs().max().item() <= tol
        assert x2.abs().max().item() <= 1.0
        # velocities: flipped exactly where the reference flips (a coordinate that lands
        # within rounding of a wall may go either way)
        near_wall = (fx.abs() > 1 - 4 * tol)
        assert torch.equal(v2[~near_wall], ev[~near_wall])
        inside = x.abs() <= 1
        assert torch.equal(x2[inside], x[inside]) and torch.equal(v2[inside], v[inside])


@pytest.mark.parametrize("branch", [True, False])
def test_wall_leaves_inside_positions_untouched_bitwise(branch):
    x = torch.rand(4, 1000, dtype=torch.float32) * 2 - 1
    x[0, 0], x[1, 1] = 1.0, -1.0
    v = torch.randn_like(x)
    x0, v0 = x.clone(), v.clone()
    fold_(x, v, branch=branch)
    assert torch.equal(x, x0) and torch.equal(v, v0)
    x[2, 5] = 1.25                           # one coordinate outside: only it changes
    fold_(x, v, branch=branch)
    changed = (x != x0).nonzero().tolist()
    assert changed == [[2, 5]] and abs(x[2, 5].item() - 0.75) < 1e-6
    assert v[2, 5].item() == -v0[2, 5].item()


# --------------------------------------------------------------------------- the step
def reference_step(system, ff, integ, streams, xi):
    """The plain step: reference forces, per-row noise, the integrator written out, fold."""
    ff.compute_reference(system)
    for r, g in enumerate(streams.generators):
        xi[r].normal_(generator=g)
    a, c, b = integ._coeffs(system)
    v, x = system.v, system.x
    v.mul_(a).add_(system.f, alpha=c).add_(xi, alpha=b)
    x.add_(v, alpha=integ.dt)
    fx, flip = fold(x)
    x.copy_(fx)
    v.mul_(1.0 - 2.0 * flip.to(v.dtype))


def stepping_pair(dtype, scheme, seed=0):
    def one():
        s = make_system((11, 4, 4, 4, 2), M=6, R=3, dtype=dtype, seed=seed, scale=0.98)
        g = torch.Generator().manual_seed(seed + 1)
        s.v.copy_((torch.randn(s.v.shape, generator=g, dtype=torch.float64) * 0.5).to(dtype))
        streams = KeyedStreams(7, STREAM_NOISE, s.sample.tolist(), s.replica.tolist(), 0, "cpu")
        integ = md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=0.05, scheme=scheme)
        return s, streams, integ
    return one(), one()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scheme", ["per-step", "literal"])
def test_fused_step_equals_reference_step(dtype, scheme):
    (s1, st1, in1), (s2, st2, in2) = stepping_pair(dtype, scheme)
    ff1, ff2 = TDLM(normalize=True), TDLM(normalize=True)
    wall = md.fix.ReflectiveWall()
    xi = torch.empty_like(s2.x)
    mirrored = 0
    for _ in range(6):
        fused_step(s1, ff1, in1, wall, st1)
        x_before = s2.x.clone()
        reference_step(s2, ff2, in2, st2, xi)
        mirrored += int((s2.x != x_before + in2.dt * s2.v).sum())
        assert rel_err(s1.x, s2.x) < 50 * TOL[dtype]
        assert rel_err(s1.v, s2.v) < 50 * TOL[dtype]
    assert mirrored > 0                      # the walls were active
    assert s1.x.abs().max().item() <= 1.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_step_equals_plain_simulation_loop_bitwise(dtype):
    """The Simulation's plain loop (forces, integrator.step, wall hook) and the fused step
    (noise drawn while the forces are computed) give the same numbers bit for bit."""
    (s1, st1, in1), (s2, st2, in2) = stepping_pair(dtype, "per-step", seed=4)
    ff = TDLM(normalize=True)
    sim = md.Simulation(s2, ff, in2, seed=7)
    sim.fixes.append(md.fix.ReflectiveWall())
    sim.run(5, progress=False)
    fused_step(s1, TDLM(normalize=True), in1, md.fix.ReflectiveWall(), st1, n=5)
    assert torch.equal(s1.x, s2.x) and torch.equal(s1.v, s2.v)


@pytest.mark.parametrize("make", [
    lambda: md.integrate.NVE(dt=0.05),
    lambda: md.integrate.Langevin(dt=0.05, gamma=2.0, kT=0.05),
    lambda: md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=0.0),
])
def test_fused_step_other_integrators(make):
    (s1, st1, _), (s2, st2, _) = stepping_pair(torch.float64, "per-step", seed=2)
    in1, in2 = make(), make()
    ff = TDLM()
    w1, w2 = md.fix.ReflectiveWall(), md.fix.ReflectiveWall()
    for _ in range(4):
        fused_step(s1, ff, in1, w1, st1)
        ff.compute(s2)
        in2.step(s2, st2)
        w2.post_integrate(type("Sim", (), {"system": s2})())
    assert torch.equal(s1.x, s2.x) and torch.equal(s1.v, s2.v)


def test_fused_step_without_forcefield_or_walls_and_overlap_off():
    (s1, st1, in1), (s2, st2, in2) = stepping_pair(torch.float64, "per-step", seed=3)
    FusedStep(None, in1, None, overlap_noise=False)(s1, st1, n=3)
    for _ in range(3):
        s2.f.zero_()
        in2.step(s2, st2)
    assert torch.equal(s1.x, s2.x) and torch.equal(s1.v, s2.v)


def test_fused_step_needs_streams_when_noisy():
    (s1, _, in1), _ = stepping_pair(torch.float64, "per-step")
    with pytest.raises(ValueError, match="streams"):
        fused_step(s1, TDLM(), in1, None, None)


@pytest.mark.parametrize("n", [2, 8], ids=["flat", "transposed-spins"])
def test_fused_step_allocates_nothing(n):
    """Per step, nothing is allocated: neither in short calls (flat buffers) nor in runs of
    steps that keep the hidden spins transposed (the buffers of the run are made once)."""
    from torch.profiler import profile
    (s, st, integ), _ = stepping_pair(torch.float32, "per-step")
    s.v.mul_(50.0)                           # large overshoots: the general fold runs too
    ff, wall = TDLM(), md.fix.ReflectiveWall()
    fused_step(s, ff, integ, wall, st, n=n)
    with profile(profile_memory=True) as prof:
        fused_step(s, ff, integ, wall, st, n=n)
    allocated = sum(max(0, e.cpu_memory_usage) for e in prof.events()
                    if e.name.startswith("aten::empty"))
    assert allocated < 512 * n               # only 0-dim scalar wrappers


@needs_compiler
@pytest.mark.parametrize("normalize,energy", [(True, "norm"), (False, "sq")])
def test_compiled_forces_equal_eager(normalize, energy):
    for dtype in DTYPES:
        s = make_system(SHAPES["stacked"], dtype=dtype, seed=9)
        ff = TDLM(normalize=normalize, energy=energy)
        E = ff.compute_(s, compiled=True).clone()
        f = s.f.clone()
        E_ref = ff.compute_reference(s)
        assert rel_err(E, E_ref) < TOL[dtype] and rel_err(f, s.f) < TOL[dtype]


@needs_compiler
@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_step_equals_eager(dtype):
    (s1, st1, in1), (s2, st2, in2) = stepping_pair(dtype, "per-step", seed=6)
    s1.v.mul_(20.0)
    s2.v.mul_(20.0)                          # overshoots beyond the box, too
    ff = TDLM()
    fused_step(s1, ff, in1, md.fix.ReflectiveWall(), st1, n=4, compile=True)
    assert in1._fast._kernel                 # compiled, not the eager fallback
    from mdlearn import forcefield
    assert forcefield._KERNEL.get("hidden")  # the force kernel, too
    fused_step(s2, ff, in2, md.fix.ReflectiveWall(), st2, n=4)
    assert rel_err(s1.x, s2.x) < 50 * TOL[dtype] and rel_err(s1.v, s2.v) < 50 * TOL[dtype]
    assert s1.x.abs().max().item() <= 1.0


@needs_compiler
def test_simulation_compile_option_runs_compiled_kernels_and_matches_eager():
    def sim(compile):
        s = make_system((11, 4, 4, 4, 2), M=6, R=3, dtype=torch.float64, seed=4, scale=0.98)
        out = md.Simulation(s, TDLM(), md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=0.05),
                            seed=3, compile=compile, progress=False)
        out.fixes.append(md.fix.ReflectiveWall())
        return out
    a, b = sim(True), sim(False)
    a.run(5)
    b.run(5)
    assert a.integrator._fast._kernel        # the compiled update+walls kernel ran
    assert rel_err(a.system.x, b.system.x) < 50 * TOL[torch.float64]
    assert rel_err(a.system.v, b.system.v) < 50 * TOL[torch.float64]


def test_simulation_compile_option_is_checked():
    s = make_system((11, 4, 4, 4, 2), M=6, R=3, seed=4, scale=0.98)
    with pytest.raises(md.MDLearnError, match="compile must be True or False, got 'yes'"):
        md.Simulation(s, TDLM(), md.integrate.PaperLangevin(), compile="yes")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_step_equals_eager():  # pragma: no cover - needs a GPU
    def build():
        s = make_system((11, 4, 4, 4, 2), dtype=torch.float64, seed=1)
        x = s.x.cuda()
        sc = md.System(s.inputs, s.targets, s.sizes, x)
        st = KeyedStreams(7, STREAM_NOISE, sc.sample.tolist(), sc.replica.tolist(), 0, "cuda")
        return sc, st, md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=0.05)
    (s1, st1, in1), (s2, st2, in2) = build(), build()
    fused_step(s1, TDLM(), in1, md.fix.ReflectiveWall(), st1, n=6)
    fused_step(s2, TDLM(), in2, md.fix.ReflectiveWall(), st2, n=6, cuda_graph=False)
    assert rel_err(s1.x, s2.x) < 1e-12 and rel_err(s1.v, s2.v) < 1e-12


# --------------------------------------------------------------------------- noise
def test_threaded_draw_equals_per_row_draw(monkeypatch):
    monkeypatch.setattr(mrandom, "PARALLEL_MIN_ELEMENTS", 1)
    monkeypatch.setenv("MDLEARN_NOISE_THREADS", "3")
    R, P = 7, 1000
    a = KeyedStreams(5, STREAM_NOISE, range(R), [0] * R, 0, "cpu")
    b = KeyedStreams(5, STREAM_NOISE, range(R), [0] * R, 0, "cpu")
    buf = torch.empty(R, P, dtype=torch.float32)
    ref = torch.empty_like(buf)
    for _ in range(2):
        a.normal_(buf)
        for r, g in enumerate(b.generators):
            ref[r].normal_(generator=g)
        assert torch.equal(buf, ref)
    a.normal_async(buf).wait()
    for r, g in enumerate(b.generators):
        ref[r].normal_(generator=g)
    assert torch.equal(buf, ref)
    a.uniform_(buf, -1.0, 1.0)
    for r, g in enumerate(b.generators):
        ref[r].uniform_(-1.0, 1.0, generator=g)
    assert torch.equal(buf, ref)


def test_noise_of_a_configuration_does_not_depend_on_the_others(monkeypatch):
    monkeypatch.setattr(mrandom, "PARALLEL_MIN_ELEMENTS", 1)
    big = KeyedStreams(3, STREAM_NOISE, [0, 1, 2, 3], [0, 1, 0, 1], 2, "cpu")
    small = KeyedStreams(3, STREAM_NOISE, [2], [0], 2, "cpu")
    b, s = torch.empty(4, 500), torch.empty(1, 500)
    for _ in range(3):
        big.normal_(b)
        small.normal_(s)
        assert torch.equal(b[2], s[0])


def test_noise_statistics():
    """Mean 0, variance 1, no correlation across configurations or across steps, and
    different epochs give different streams."""
    R, P, steps = 6, 20000, 3
    st = KeyedStreams(11, STREAM_NOISE, range(R), [0] * R, 0, "cpu")
    draws = torch.empty(steps, R, P, dtype=torch.float32)
    for k in range(steps):
        st.normal_(draws[k])
    d = draws.double()
    n = d.numel()
    assert abs(d.mean().item()) < 5 / math.sqrt(n)
    assert abs(d.var().item() - 1) < 5 * math.sqrt(2 / n)
    flat = d.reshape(steps * R, P)
    corr = torch.corrcoef(flat)
    off = corr[~torch.eye(steps * R, dtype=torch.bool)]
    assert off.abs().max().item() < 5 / math.sqrt(P)        # configurations and steps
    kurt = ((d - d.mean()) ** 4).mean() / d.var() ** 2
    assert abs(kurt.item() - 3) < 0.1
    other = KeyedStreams(11, STREAM_NOISE, range(R), [0] * R, 1, "cpu")
    e = torch.empty(R, P)
    other.normal_(e)
    assert not torch.equal(e, draws[0])


def test_streams_state_roundtrip_and_version():
    st = KeyedStreams(1, STREAM_NOISE, [0, 1], [0, 0], 0, "cpu")
    buf = torch.empty(2, 100000)
    st.normal_(buf)
    state = st.get_state()
    a = st.normal_(torch.empty(2, 100000)).clone()
    v = st.version
    st.set_state(state)
    assert st.version == v + 1
    assert torch.equal(st.normal_(torch.empty(2, 100000)), a)


# --------------------------------------------------------------------------- bench
TINY = ["--M", "12", "--N", "3", "--L", "3", "--N0", "10", "--R", "2", "--steps", "2",
        "--repeat", "1", "--warmup", "1"]


def test_bench_prints_table_with_scaling(capsys):
    from mdlearn import bench
    assert bench.main(TINY + ["--scaling", "--scaling-R", "1,2", "--scaling-M", "6,12"]) == 0
    out = capsys.readouterr().out
    print(out)
    for text in ("replica-steps/s", "baseline", "of limit", "limit: first-layer products",
                 "scaling over R", "scaling over M", "kT=0 (no noise)", "float64", "limit ms"):
        assert text in out


def test_bench_json(capsys):
    from mdlearn import bench
    assert bench.main(TINY + ["--json", "--dtype", "float64", "--kT", "0"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["config"]["dtype"] == "float64" and res["P"] > 0
    assert res["fraction_of_limit"] > 0 and res["speedup_vs_baseline"] > 0
    names = [r["name"] for r in res["rows"]]
    assert names == ["engine", "engine_kT0", "engine_float32", "baseline"]


def test_bench_bad_arguments(capsys):
    from mdlearn import bench
    assert bench.main(TINY + ["--R", "0"]) == 2
    assert "--R" in capsys.readouterr().err


def test_autograd_baseline_matches_engine_forces():
    """The baseline computes the same physics: one noiseless step from the same state."""
    from mdlearn.bench import autograd_baseline_step
    s = make_system((9, 4, 4, 2), dtype=torch.float64, seed=8, scale=0.5)
    state = dict(S=[t.clone() for t in s.spins], J=[t.clone() for t in s.weights],
                 vS=[t.clone() for t in s.spin_velocities],
                 vJ=[t.clone() for t in s.weight_velocities])
    E = autograd_baseline_step(state, s.inputs, s.targets, 1e-2, 1e-3, 0.0, normalize=True)
    integ = md.integrate.PaperLangevin(dt=1e-2, eta=1e-3, kT=0.0)
    E2 = TDLM(normalize=True).compute(s)
    integ.step(s, None)
    md.fix.ReflectiveWall().apply_(s)
    assert rel_err(E, E2) < 1e-12
    for a, b in zip(state["S"] + state["J"], s.spins + s.weights):
        assert rel_err(a, b) < 1e-12


def test_float32_tanh_is_within_a_few_ulp_of_torch_tanh():
    """The float32 force path's tanh (expm1 form) against float64 tanh: relative error below
    4 ulp over 12 decades of |x|, exactly +-1 far out, no overflow to NaN."""
    from mdlearn.forcefield import _tanh_
    x = torch.cat([torch.logspace(-9, 3, 4000), torch.tensor([0.0, 20.0, 44.5, 89.0, 1e30])])
    x = torch.cat([x, -x]).to(torch.float32)
    t = x.clone()
    _tanh_(t, torch.empty_like(t))
    ref = torch.tanh(x.double())
    assert torch.isfinite(t).all()
    rel = (t.double() - ref).abs() / ref.abs().clamp_min(1e-300)
    rel[x == 0] = 0.0
    assert rel.max().item() < 4 * 2.0 ** -23
    assert (t[x.abs() >= 20] == torch.sign(x[x.abs() >= 20])).all()
    assert t.abs().max().item() <= 1.0
