"""Replica spawning and correlation functions checked against numpy on stored frames."""
import numpy as np
import pytest
import torch

import mdlearn as md
from decks import build


def test_spawn_positions_velocities_divergence():
    data = md.datasets.random_scenario(n_train=40, n_test=5, n_in=30, seed=1)
    system = md.System.create(md.Network(30, 20, 3, 2), data, samples=2, seed=0, kT=1e-3)
    kT = 2e-3
    sim = md.Simulation(system, md.forcefield.TDLM(normalize=True),
                        md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=kT), seed=0, progress=False)
    sim.fixes += [md.fix.ReflectiveWall(), md.fix.SpawnReplicas(n=4, t_w=10)]
    sim.run(10)
    s = sim.system
    assert s.R == 8 and s.sample.tolist() == [0] * 4 + [1] * 4
    assert s.replica.tolist() == [0, 1, 2, 3] * 2
    for a in range(8):
        assert torch.equal(s.x[a], s.x[4 * (a // 4)])
    # fresh Maxwell-Boltzmann velocities at kT: variance kT/m over ~2900 particles x 8
    assert abs(s.v.var().item() / kT - 1) < 0.03
    assert abs(s.v.mean().item()) < 4 * (kT / s.v.numel()) ** 0.5
    assert not torch.equal(s.v[0], s.v[1])
    sim.run(5, check_schedule=False)
    assert not torch.equal(s.x[0], s.x[1])
    assert not torch.equal(s.x[0], s.x[4])


def test_spawn_independent_of_other_samples():
    a = build(samples=1); b = build(samples=3)
    a.run(40); b.run(40)
    torch.testing.assert_close(a.system.x, b.system.x[:3], rtol=0, atol=1e-14)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("rep") / "run.zarr")
    sim = build(store=path)
    sim.run(60)
    return md.io.open_run(path)


def frames(run):
    sp = run.spins()
    ws = [run.weights(l) for l in (1, 2, 3)]
    return sp, ws


def test_autocorrelation_matches_numpy(store):
    sp, ws = frames(store)
    steps = list(sp["step"])
    c = store.observable("c_layers")
    C = store.observable("C_layers")
    t_ws = [10, 30]
    assert np.array_equal(c["step"], sp["step"])
    for k, tw in enumerate(t_ws):
        ref = steps.index(tw)
        for i, st in enumerate(steps):
            if st < tw:
                assert np.isnan(c["value"][i, :, k]).all()
                continue
            S, S0 = sp["value"][i], sp["value"][ref]            # (config, layer, M, N)
            want = (S * S0).sum(axis=(2, 3)) / (S.shape[2] * S.shape[3])
            np.testing.assert_allclose(c["value"][i, :, k], want, rtol=1e-12, atol=1e-14)
            for l in range(3):
                J, J0 = ws[l]["value"][i], ws[l]["value"][ref]
                want = (J * J0).sum(axis=(1, 2)) / (J.shape[1] * J.shape[2])
                np.testing.assert_allclose(C["value"][i, :, k, l], want, rtol=1e-12, atol=1e-14)
    g = store.observable("c_global")["value"]
    np.testing.assert_allclose(g, np.mean(c["value"], axis=-1), rtol=1e-12)


def test_replica_overlaps_match_numpy(store):
    sp, ws = frames(store)
    q = store.observable("q_matrix"); Q = store.observable("Q_matrix")
    ql = store.observable("q_layers"); Ql = store.observable("Q_layers")
    sample = q["sample"]
    assert sample.tolist() == [0, 0, 0, 1, 1, 1] and q["replica"].tolist() == [0, 1, 2] * 2
    for i, st in enumerate(sp["step"]):
        S = sp["value"][i]                              # (R, L-1, M, N)
        R = S.shape[0]
        X = S.reshape(R, S.shape[1], -1)
        want = np.einsum("ali,bli->lab", X, X) / X.shape[2]
        np.testing.assert_allclose(q["value"][i], want, rtol=1e-12, atol=1e-14)
        assert np.allclose(q["value"][i], np.swapaxes(q["value"][i], 1, 2), rtol=0, atol=0)
        for l in range(3):
            W = ws[l]["value"][i].reshape(R, -1)
            np.testing.assert_allclose(Q["value"][i, l], W @ W.T / W.shape[1], rtol=1e-12, atol=1e-14)
        if st >= 20:
            # pairs a < b of the same sample, averaged per sample, then over samples
            per = []
            for s_ in (0, 1):
                idx = np.where(sample == s_)[0]
                per.append(np.mean([want[:, a, b] for a in idx for b in idx if a < b], axis=0))
            np.testing.assert_allclose(ql["value"][i], np.mean(per, axis=0), rtol=1e-12)
            assert np.isfinite(Ql["value"][i]).all()
        if st == 20:
            # at the spawn, replicas are identical: q^{ab}(t=0) = auto-overlap
            for l in range(2):
                for a in range(R):
                    for b in range(R):
                        if sample[a] == sample[b]:
                            assert q["value"][i, l, a, b] == pytest.approx(q["value"][i, l, a, a], rel=1e-13)
    # before the spawn there are no distinct replicas yet: the pair average is undefined
    pre = ql["step"] < 20
    assert np.isnan(ql["value"][pre]).all()


def test_test_overlap_and_pair_labels(store):
    tq = store.observable("q_test_matrix")
    v = tq["value"][-1]
    assert np.allclose(np.diagonal(v, axis1=1, axis2=2), 1.0)   # sgn representations
    same = tq["sample"][:, None] == tq["sample"][None, :]
    assert same.sum() == 18 and (~same).sum() == 18


def test_store_opens_with_xarray(store):
    xr = pytest.importorskip("xarray")
    ds = store.dataset("particles/spins")
    assert ds["value"].dims == ("step", "config", "spin_layer", "example", "unit")
    assert ds["value"].shape[1:] == (6, 2, 6, 4)
    assert "time" in ds.coords and "step" in ds.coords and "sample" in ds.coords
    ds = store.dataset("observables/c_layers")
    assert list(ds["t_w"].values) == [10, 30]
    assert ds["value"].dims == ("step", "config", "t_w", "spin_layer")
    np.testing.assert_allclose(ds["time"].values[ds["step"].values >= 0],
                               ds["step"].values[ds["step"].values >= 0] * 0.05)
    w = store.dataset("particles/weights/layer_1")
    assert w["value"].dims == ("step", "config", "out_unit", "in_unit")
    assert w["value"].shape[2:] == (4, 8)
    assert store.parameters["integrator"]["dt"] == 0.05
    assert store.parameters["fixes"][1] == {"class": "SpawnReplicas", "n": 3, "t_w": 20, "kT": None}


def test_sign_spins(tmp_path):
    path = str(tmp_path / "s.zarr")
    sim = build(spawn=None, t_w=None)
    sim.dumps.append(md.dump.Zarr(path, md.trigger.At([0, 5]), spins="sign"))
    sim.run(5)
    sp = md.io.open_run(path).spins()
    assert sp["value"].dtype == np.int8 and set(np.unique(sp["value"])) <= {-1, 1}
    np.testing.assert_array_equal(sp["value"][-1, 0, 0], np.where(sim.system.spins[0][0].numpy() >= 0, 1, -1))


@pytest.mark.parametrize("kind", ["spawn", "autocorr"])
def test_t_w_after_run_end_is_an_error(kind):
    sim = build(spawn=(3, 500) if kind == "spawn" else None, t_w=[5, 500] if kind == "autocorr" else None)
    with pytest.raises(ValueError, match="t_w=500"):
        sim.run(100)
    assert sim.step == 0


def test_pairs_need_two_replicas():
    sim = build(spawn=(1, 10), t_w=None)
    sim.computes.append(md.compute.ReplicaOverlap())
    with pytest.raises(ValueError, match="N_r >= 2"):
        sim.run(20)


def test_existing_store_is_refused_and_kept(tmp_path):
    path = tmp_path / "x.zarr"
    path.mkdir()
    (path / "precious.txt").write_text("keep me")
    sim = build(store=str(path))
    with pytest.raises(ValueError, match="already exists"):
        sim.run(30)
    assert (path / "precious.txt").read_text() == "keep me"
    sim2 = build(spawn=None, t_w=None)
    sim2.dumps.append(md.dump.Zarr(str(path), md.trigger.Periodic(5), overwrite=True))
    sim2.run(5)
    assert not (path / "precious.txt").exists()
    assert md.io.open_run(str(path)).spins()["step"].tolist() == [0, 5]
