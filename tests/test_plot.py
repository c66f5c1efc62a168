"""mdlearn.plot, mdlearn.analysis.store and the ``mdlearn analyze`` / ``mdlearn plot`` commands
on small stores written by short runs."""
import math
import os
import sys

import numpy as np
import pytest

import mdlearn as md
from mdlearn import plot
from mdlearn.analysis import store as st
from mdlearn.cli import main as cli_main

pytest.importorskip("matplotlib")

M, N_TEST, STEPS = 12, 10, 120
T_WS = [20, 50]


def _run(path, *, N=4, L=4, kT=1e-5, samples=2, replicas=3, t_spawn=50, auto=True,
         matrix=True, seed=1, trigger=None):
    data = md.datasets.mnist01(n_train=M, n_test=N_TEST, seed=0)
    system = md.System.create(md.Network(784, N, L, 2), data, samples=samples, seed=seed,
                              kT=kT, dtype="float64")
    sim = md.Simulation(system, md.forcefield.TDLM(normalize=True),
                        md.integrate.PaperLangevin(kT=kT, scheme="per-step"), seed=seed,
                        progress=False)
    sim.fixes.append(md.fix.ReflectiveWall())
    sim.computes += [md.compute.LayerEnergies(), md.compute.TestAccuracy(data.test)]
    if auto:
        sim.computes.append(md.compute.AutoCorrelation(t_w=T_WS))
    if t_spawn is not None:
        sim.fixes.append(md.fix.SpawnReplicas(n=replicas, t_w=t_spawn))
        sim.computes += [md.compute.ReplicaOverlap(matrix=matrix),
                         md.compute.TestOverlap(data.test)]
    trig = trigger or md.trigger.Any(md.trigger.LogSpaced(1, STEPS, 6, zero=True),
                                     *[md.trigger.LogSpaced(1, STEPS - t, 6, offset=t, zero=True)
                                       for t in T_WS])
    sim.dumps.append(md.dump.Zarr(str(path), trig, spins=None, weights=False))
    sim.deck_config = {"t_star": STEPS - max(T_WS)}
    sim.run(STEPS)
    sim.close()
    return str(path)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster, and much faster on a busy 2-core machine."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def stores(tmp_path_factory, one_thread):
    d = tmp_path_factory.mktemp("stores")
    return {
        "ref50": _run(d / "ref50.zarr"),
        "ref20": _run(d / "ref20.zarr", t_spawn=20),
        "n2": _run(d / "n2.zarr", N=2),
        "hot": _run(d / "hot.zarr", kT=1e-3, t_spawn=None),
        "deep": _run(d / "deep.zarr", L=5, auto=False),
        "close": _run(d / "close.zarr", samples=1, replicas=4, auto=False),
    }


# ---------------------------------------------------------------------------- store helpers
def test_load_curves_masks_unwritten_and_undefined_frames(stores):
    c = st.load_curves(stores["ref50"])
    i = c.info
    assert (i.M, i.N, i.L, i.t_spawn, i.n_samples, i.n_replicas) == (M, 4, 4, 50, 2, 3)
    assert i.auto_t_w == T_WS and math.isclose(i.ln_alpha, math.log(M / 4))
    for tw, s in c.auto["c_layers"].items():
        assert s.t[0] == 0 and np.all(s.step >= tw) and np.all(np.isfinite(s.value))
        assert s.value.shape[1] == 3
    q = c.replica["q_layers"]
    assert q.t[0] == 0 and np.all(q.step >= 50) and np.all(np.isfinite(q.value))
    assert c.energy.step[0] == 0 and c.E0 > 0 and c.accuracy.value.shape == c.accuracy.t.shape
    # the raw store does hold NaN before t_w and before the spawn
    raw = md.io.open_run(stores["ref50"]).observable("q_layers")
    assert np.isnan(raw["value"][raw["step"] < 50]).all()
    # q*, its standard error from the pair matrices, and values between frames
    t, qs, sem = c.star("q_layers")
    assert t == STEPS - 50 and qs.shape == (3,) and sem is not None and sem.shape == (3,)
    t, v, e = c.star("c_layers", t_w=20, t=30.0)
    assert t == 30.0 and v.shape == (3,)
    f = c.pair_frame("Q_matrix", t=40)
    assert f.mats.shape == (4, 6, 6) and f.sample.tolist() == [0, 0, 0, 1, 1, 1]


def test_relaxation_times_mark_layers_below_threshold_at_start(stores):
    c = st.load_curves(stores["ref50"])
    taus = c.relaxation_times("c_layers")
    assert sorted(taus) == T_WS
    for tw, vals in taus.items():
        start = c.auto["c_layers"][tw].value[0]
        for l, v in enumerate(vals):
            if start[l] <= math.exp(-1):
                assert v is not None and math.isnan(v)
            else:
                assert v is None or v > 0
    # thresholds below every value: nothing reached
    assert all(v is None for vals in c.relaxation_times("c_layers", -5.0).values() for v in vals)


def test_value_at_interpolates_in_log_t_and_refuses_outside():
    s = st.Series(np.array([0, 10, 1000]), np.array([5, 15, 1005]), np.array([1.0, 0.8, 0.2]))
    assert st.value_at(s, 100) == pytest.approx(0.5)
    assert st.value_at(s, 0) == 1.0
    with pytest.raises(md.MDLearnError, match="outside"):
        st.value_at(s, 5000)


def test_load_curves_errors(tmp_path):
    with pytest.raises(md.MDLearnError, match="does not exist"):
        st.load_curves(tmp_path / "nothing.zarr")
    with pytest.raises(md.MDLearnError, match="no store"):
        st.load_stores([])


# ---------------------------------------------------------------------------- figures
FIGS = {
    "1b": (plot.fig1b, ["ref50", "n2", "deep"]),
    "2": (plot.fig2, ["ref50", "ref20", "n2", "hot"]),
    "3": (plot.fig3, ["ref20", "ref50"]),
    "4": (plot.fig4, ["ref50", "close"]),
    "S1": (plot.figS1, ["ref50", "hot"]),
    "S2": (plot.figS2, ["ref20", "ref50"]),
    "S3": (plot.figS3, ["ref20", "ref50", "n2"]),
    "S4": (plot.figS4, ["ref50"]),
    "S5": (plot.figS5, ["ref50", "n2"]),
    "S6": (plot.figS6, ["ref50", "deep"]),
    "S7": (plot.figS7, ["ref50"]),
}


@pytest.mark.parametrize("name", sorted(FIGS))
def test_every_figure_function_writes_a_file(stores, tmp_path, name):
    fn, keys = FIGS[name]
    paths = [stores[k] for k in keys]
    out = tmp_path / f"fig{name}.png"
    fig = fn(paths if len(paths) > 1 else paths[0], out)
    assert out.exists() and out.stat().st_size > 5000
    assert len(fig.axes) >= 2
    assert set(plot.FIGURES) >= {"1b", "2", "3", "4", "S1", "S2", "S3", "S4", "S5", "S6",
                                 "S7", "S8", "S9"}


def test_fig4_options_and_pdf(stores, tmp_path):
    out = tmp_path / "fig4.pdf"
    plot.fig4([stores["ref50"]], out, kind="q", normalized=True, layers=[1, 3], t=30)
    assert out.read_bytes()[:4] == b"%PDF"
    with pytest.raises(md.MDLearnError, match="layer 7 does not exist"):
        plot.fig4([stores["ref50"]], None, layers=[7])
    with pytest.raises(md.MDLearnError, match="kind"):
        plot.pq_layers(stores["ref50"], None, kind="x")


def test_figures_explain_missing_data(stores):
    with pytest.raises(md.MDLearnError, match="q_layers"):
        plot.fig1b([stores["hot"]])
    with pytest.raises(md.MDLearnError, match="C_layers"):
        plot.figS4([stores["close"]])
    with pytest.raises(md.MDLearnError, match="Q_matrix"):
        plot.fig4([stores["hot"]])


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(md.MDLearnError, match="pip install matplotlib"):
        plot._mpl()


# ---------------------------------------------------------------------------- command line
def test_cli_analyze_prints_tables(stores, capsys):
    assert cli_main(["analyze", stores["ref50"], stores["hot"]]) == 0
    out = capsys.readouterr().out
    for text in ("E*/E(0)", "A*", "q_l*", "tau_c(t_w=20)", "tau_c(t_w=50)", "phase",
                 "xi_l =", "xi_s =", "tau_C(t_w=50)", "Q_l*", "q_l* norm", "q_l* test",
                 stores["hot"]):
        assert text in out, text
    assert cli_main(["analyze", stores["ref50"], "--t-w", "20", "--threshold", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "tau_c(t_w=20)" in out and "tau_c(t_w=50)" not in out and "q_c = 0.1" in out
    assert cli_main(["analyze", stores["ref50"], "--t-w", "7"]) == 2
    assert "no c_layers at t_w = 7" in capsys.readouterr().err


def test_cli_plot_writes_png(stores, tmp_path, capsys):
    out = tmp_path / "f3.png"
    assert cli_main(["plot", stores["ref20"], stores["ref50"], "--figure", "3",
                     "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out
    out = tmp_path / "pq.png"
    assert cli_main(["plot", stores["ref50"], stores["n2"], "--figure", "S8", "--out", str(out),
                     "--kind", "q"]) == 0
    assert (tmp_path / "pq_1.png").exists() and (tmp_path / "pq_2.png").exists()
    assert cli_main(["plot", stores["ref50"], "--figure", "7"]) == 2
    assert "unknown figure" in capsys.readouterr().err
