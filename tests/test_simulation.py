"""Run loop: reproducibility, batch independence, scheduling, thermo."""
import io
import os

import pytest
import torch

import mdlearn as md


def small(samples=2, seed=0, dtype="float64", scheme="per-step", kT=1e-3):
    data = md.datasets.random_scenario(n_train=6, n_test=5, n_in=8, seed=1)
    system = md.System.create(md.Network(8, 4, 3, 2), data, samples=samples, seed=seed,
                              dtype=dtype, kT=kT)
    sim = md.Simulation(system, md.forcefield.TDLM(normalize=True),
                        md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=kT, scheme=scheme),
                        seed=seed)
    sim.fixes.append(md.fix.ReflectiveWall())
    return sim, data


@pytest.mark.parametrize("scheme", ["per-step", "literal"])
def test_same_seed_same_trajectory(scheme):
    a, _ = small(scheme=scheme)
    b, _ = small(scheme=scheme)
    a.run(50, progress=False)
    b.run(50, progress=False)
    assert torch.equal(a.system.x, b.system.x) and torch.equal(a.system.v, b.system.v)
    c, _ = small(seed=1, scheme=scheme)
    c.run(50, progress=False)
    assert not torch.equal(a.system.x, c.system.x)


def test_configuration_does_not_depend_on_batch_size():
    a, _ = small(samples=1)
    b, _ = small(samples=3)
    a.run(40, progress=False)
    b.run(40, progress=False)
    torch.testing.assert_close(a.system.x[0], b.system.x[0], rtol=0, atol=1e-14)


def test_chunking_does_not_change_results():
    a, _ = small()
    b, _ = small()
    a.run(30, progress=False)
    for _ in range(3):
        b.run(10, progress=False)
    b.dumps.append(md.dump.Thermo(7, stdout=False))
    assert torch.equal(a.system.x, b.system.x)


def test_thermo_table_and_file(tmp_path, capsys):
    sim, data = small()
    sim.computes.append(md.compute.TestAccuracy(data.test))
    path = tmp_path / "thermo.log"
    sim.dumps.append(md.dump.Thermo(md.trigger.Periodic(10), file=str(path), per_layer=True))
    sim.run(25, progress=False)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["Step", "Time", "PotEng", "E_1", "E_2", "E_3", "T_spin",
                              "T_weight", "TestAcc"]
    assert [int(l.split()[0]) for l in out[1:]] == [0, 10, 20]
    assert float(out[2].split()[1]) == pytest.approx(10 * 0.05)
    lines = path.read_text().splitlines()
    assert lines == out
    # a second run continues without repeating step 20 or the header
    sim.run(10, progress=False)
    assert [int(l.split()[0]) for l in path.read_text().splitlines()[1:]] == [0, 10, 20, 30]


def test_log_spaced_and_at_triggers_fire_exactly():
    seen = []

    class Recorder(md.dump.Dump):
        def __init__(self, trig):
            self.trigger = trig

        def write(self, sim):
            seen.append(sim.step)

    sim, _ = small()
    sim.dumps.append(Recorder(md.trigger.Any(md.trigger.LogSpaced(1, 100, 5), md.trigger.At([0, 7]))))
    sim.run(100, progress=False)
    assert seen == sorted(set([0, 7] + md.trigger.LogSpaced(1, 100, 5).points))


def test_forcefield_none_free_particles():
    sim, _ = small()
    sim.forcefield = None
    v0 = sim.system.v.clone()
    sim.integrator = md.integrate.NVE(dt=1e-3)
    sim.run(3, progress=False)
    assert torch.allclose(sim.system.v.abs(), v0.abs())


def test_progress_bar_runs(capsys):
    sim, _ = small()
    sim.run(20, progress=True)
    assert sim.step == 20


def test_bad_operations():
    sim, _ = small()
    with pytest.raises(ValueError, match="fixes"):
        sim.fixes.append(md.compute.Temperature())
    with pytest.raises(ValueError, match="n"):
        sim.run(-1)
    with pytest.raises(ValueError, match="integrator"):
        md.Simulation(sim.system, None, integrator="leapfrog")


def test_test_accuracy_rules():
    from mdlearn.network import classify
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [2.0, -1.0]]])
    t = torch.tensor([[1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    assert classify(h, t, "argmax").item() == 0.5     # tie counts as wrong
    # strict: sgn(h) == target; sgn(0) = +1
    assert classify(h, t, "strict").item() == 0.0
    h2 = torch.tensor([[[1.0, -1.0], [-2.0, 3.0]]])
    assert classify(h2, t[:2], "strict").item() == 1.0


def test_sgn_network_by_hand():
    from mdlearn.network import feed_forward
    g = torch.Generator().manual_seed(0)
    x = torch.where(torch.rand(5, 4, generator=g) > 0.5, 1.0, -1.0).double()
    W = [torch.rand(2, 3, 4, generator=g).double() * 2 - 1, torch.rand(2, 2, 3, generator=g).double() * 2 - 1]
    h = feed_forward(x, W)
    for r in range(2):
        s1 = torch.where(x @ W[0][r].T / 2 >= 0, 1.0, -1.0).double()
        torch.testing.assert_close(h[r], s1 @ W[1][r].T / 3 ** 0.5)


class _Spectator(md.fix.Fix):
    """A fix with a per-step hook that does nothing: it sends Simulation down the plain loop
    (forces, integrator.step, post_integrate hooks) instead of the fused step."""

    def post_integrate(self, sim):
        pass

    def config(self):
        return {"class": "Spectator"}


@pytest.mark.parametrize("make", [
    lambda: md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=1e-2, scheme="per-step"),
    lambda: md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=1e-2, scheme="literal"),
    lambda: md.integrate.Langevin(dt=0.05, gamma=2.0, kT=1e-2),
    lambda: md.integrate.NVE(dt=0.05),
], ids=["per-step", "literal", "langevin", "nve"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_run_equals_plain_loop_bitwise(make, dtype):
    """A run whose only per-step fix is the wall goes through integrate.fused_step (several
    steps at a time, hidden spins held transposed); it must give the plain loop's numbers."""
    data = md.datasets.random_scenario(n_train=6, n_test=5, n_in=8, seed=1)
    sims = []
    for spectator in (False, True):
        system = md.System.create(md.Network(8, 4, 4, 2), data, samples=3, seed=2,
                                  dtype=dtype, kT=1e-2)
        system.v.mul_(40.0)                    # fast enough to hit the walls
        sim = md.Simulation(system, md.forcefield.TDLM(normalize=True), make(), seed=3)
        sim.fixes.append(md.fix.ReflectiveWall())
        if spectator:
            sim.fixes.append(_Spectator())
        sim.dumps.append(md.dump.Thermo(md.trigger.Periodic(7), file=None, stdout=False))
        sim.run(30, progress=False)
        sims.append(sim)
    a, b = (s.system for s in sims)
    assert torch.equal(a.x, b.x) and torch.equal(a.v, b.v)
    assert a.x.abs().max().item() <= 1.0


def test_evaluate_cache_is_per_compute_object():
    """Values are cached per compute for one step; a new compute object never gets another
    one's values, even when it takes the id of a freed one."""
    sim, data = small()
    sim.run(3, progress=False)
    acc = [float(sim.evaluate(md.compute.TestAccuracy(data.test))["test_acc"].mean())
           for _ in range(3)]
    kt = [sim.evaluate(md.compute.Temperature()) for _ in range(3)]
    assert all("test_acc" not in v for v in kt)
    assert len(set(acc)) == 1


@pytest.mark.parametrize("low,high", [(-1.0, 1.0), (-1.0, 2.0)])
def test_fused_run_equals_plain_loop_for_any_box(low, high):
    """One long fused chunk folds spins and weights as separate parts; the fold they share
    must be the one the plain loop picks for the whole buffer (the single mirror and the
    general fold round differently when the box width is not a power of two)."""
    data = md.datasets.random_scenario(n_train=6, n_test=5, n_in=8, seed=1)
    sims = []
    for spectator in (False, True):
        system = md.System.create(md.Network(8, 4, 4, 2), data, samples=3, seed=2,
                                  dtype="float32", kT=1e-2)
        ns = system.n_spin_particles
        system.v[:, :ns].mul_(3.0)            # spins overshoot a little (single mirror)
        system.v[:, ns:].mul_(400.0)          # weights a lot (general fold)
        sim = md.Simulation(system, md.forcefield.TDLM(normalize=True),
                            md.integrate.NVE(dt=0.05), seed=3)
        sim.fixes.append(md.fix.ReflectiveWall(low, high))
        if spectator:
            sim.fixes.append(_Spectator())
        sim.run(12, progress=False)
        sims.append(sim)
    a, b = (s.system for s in sims)
    assert torch.equal(a.x, b.x) and torch.equal(a.v, b.v)


def test_fused_run_calls_an_overriding_forcefield_and_integrator():
    """A TDLM subclass that overrides compute, and an integrator of the user's with its own
    update_ on the (R, P) buffers, are called as written in long fused chunks too."""
    calls = []

    class CountingTDLM(md.forcefield.TDLM):
        def compute(self, system, forces=True):
            calls.append("ff")
            return super().compute(system, forces)

    class MassAware(md.integrate.NVE):
        def update_(self, system, xi):
            calls.append("integ")
            system.v.addcmul_(system.f, system.inv_mass, value=self.dt)
            system.x.add_(system.v, alpha=self.dt)

    sim, _ = small()
    sim.forcefield, sim.integrator = CountingTDLM(normalize=True), MassAware(dt=0.05)
    sim.run(6, progress=False)
    assert calls.count("ff") == 6 and calls.count("integ") == 6
    assert sim.system.x.abs().max().item() <= 1.0


def test_interrupted_fused_chunk_counts_the_completed_steps():
    class Boom(md.forcefield.TDLM):
        n = 0

        def compute(self, system, forces=True):
            Boom.n += 1
            if Boom.n == 5:
                raise KeyboardInterrupt
            return super().compute(system, forces)

    sim, _ = small()
    sim.forcefield = Boom(normalize=True)
    with pytest.raises(KeyboardInterrupt):
        sim.run(10, progress=False)
    assert sim.step == 4
    ref, _ = small()
    ref.run(4, progress=False)
    assert torch.equal(sim.system.x, ref.system.x)


def test_fused_step_without_streams_is_a_clear_error():
    sim, _ = small()
    for n in (1, 5):
        with pytest.raises(md.MDLearnError, match="pass the noise streams"):
            md.integrate.fused_step(sim.system, sim.forcefield, sim.integrator,
                                    md.fix.ReflectiveWall(), None, n=n)
