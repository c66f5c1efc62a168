"""Tests of mdlearn.analysis (pure numpy; fast)."""
import doctest
import importlib
import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats
from scipy.cluster import hierarchy

from mdlearn import analysis as an
from mdlearn.errors import MDLearnError

INV_E = math.exp(-1.0)
DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "analysis.md"


# ---------------------------------------------------------------- relaxation times

@pytest.mark.parametrize("rate", [1e-3, 3.7e-2, 0.5, 2.0, 7.3])
@pytest.mark.parametrize("offset", [0.0, 0.031, 0.077])
def test_exponential_decay_tau_is_inverse_rate(rate, offset):
    # 10 samples per decade. For c = exp(-rate t) at c = 1/e the error of the ln t
    # interpolation is third order in the spacing: measured max relative error 2.1e-4 over
    # all rates and offsets (docstring of relaxation_time); assert 5e-4.
    t = np.logspace(-2 + offset, 5 + offset, 71)
    tau = an.relaxation_time(t, np.exp(-rate * t))
    assert tau == pytest.approx(1.0 / rate, rel=5e-4)


def test_coarse_grid_error_bound():
    t = np.logspace(-2, 5, 36)                            # 5 samples per decade
    for rate in np.logspace(-3, 1, 101):
        tau = an.relaxation_time(t, np.exp(-rate * t))
        assert abs(tau * rate - 1) < 2e-3


def test_never_reached_and_first_sample():
    t = np.logspace(0, 3, 31)
    assert an.relaxation_time(t, 0.5 + 0.5 * np.exp(-t)) is None
    assert an.relaxation_time(t, np.full_like(t, 0.2)) == pytest.approx(t[0])


def test_interpolation_is_linear_in_log_t():
    t = np.array([1.0, 10.0, 100.0])
    c = np.array([1.0, 0.6, 0.2])
    # crossing of 0.4 half way between ln 10 and ln 100 -> sqrt(10 * 100)
    assert an.relaxation_time(t, c, threshold=0.4) == pytest.approx(math.sqrt(1000.0))
    # exactly at a sample
    assert an.relaxation_time(t, c, threshold=0.6) == pytest.approx(10.0)


def test_nonpositive_lags_are_ignored():
    t = np.array([0.0, 1.0, 10.0, 100.0])
    c = np.array([0.1, 1.0, 0.6, 0.2])       # c(0) below threshold is ignored (t <= 0)
    assert an.relaxation_time(t, c, threshold=0.4) == pytest.approx(math.sqrt(1000.0))


def test_only_first_crossing_counts():
    t = np.array([1.0, 10.0, 100.0, 1000.0])
    c = np.array([1.0, 0.3, 0.5, 0.1])
    # first crossing between t = 1 (c = 1) and t = 10 (c = 0.3); later ones do not matter
    expected = math.exp(math.log(10.0) * (INV_E - 1.0) / (0.3 - 1.0))
    assert an.relaxation_time(t, c) == pytest.approx(expected, rel=1e-12)


def test_relaxation_times_matches_single_layer():
    rng = np.random.default_rng(3)
    t = np.logspace(0, 4, 41)
    rates = [1e-3, 1e-2, 1e-6, 0.3]
    c = np.stack([np.exp(-r * t) + 0.01 * rng.normal(size=t.size) for r in rates], axis=1)
    taus = an.relaxation_times(t, c)
    assert isinstance(taus, list) and len(taus) == 4
    for l in range(4):
        assert taus[l] == an.relaxation_time(t, c[:, l])
    assert taus[2] is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=12),
       st.floats(0.05, 0.95))
def test_tau_lies_in_bracket(decrements, thr):
    c = 1.0 - np.cumsum(decrements) / (sum(decrements) + 0.1)     # decreasing, > 0
    c = np.concatenate([[1.0], c])
    t = np.logspace(0, len(c) - 1, len(c))
    tau = an.relaxation_time(t, c, threshold=thr)
    if np.all(c > thr):
        assert tau is None
    else:
        k = int(np.argmax(c <= thr))
        lo = t[k - 1] if k > 0 else t[0]
        assert lo * (1 - 1e-12) <= tau <= t[k] * (1 + 1e-12)


def test_relaxation_bad_input():
    t = np.logspace(0, 2, 5)
    c = np.exp(-t)
    with pytest.raises(ValueError, match=r"c must be finite, got c\[3\] = nan"):
        an.relaxation_time(t, np.where(np.arange(5) == 3, np.nan, c))
    with pytest.raises(ValueError, match=r"t must be strictly increasing, got t\[1\]"):
        an.relaxation_time(t[[0, 2, 1, 3, 4]], c)
    with pytest.raises(ValueError, match=r"c must have the length of t \(5\)"):
        an.relaxation_time(t, c[:4])
    with pytest.raises(ValueError, match=r"c must be 1-D, got c with shape \(5, 1\)"):
        an.relaxation_time(t, c[:, None])
    with pytest.raises(ValueError, match=r"c_layers must have shape \(T, L\) with T = len\(t\)"):
        an.relaxation_times(t, np.ones((4, 2)))
    with pytest.raises(ValueError, match="no positive lag"):
        an.relaxation_time([-1.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="threshold must be finite, got threshold=nan"):
        an.relaxation_time(t, c, threshold=float("nan"))
    with pytest.raises(MDLearnError):
        an.relaxation_time(t, ["a"] * 5)


# ---------------------------------------------------------------- phases

def test_classify_layers_hand_made_profile():
    q = [0.95, 0.6, 0.3, 0.1, 0.05, 0.2, INV_E, 0.8, 0.99]    # q = 1/e exactly is solid
    r = an.classify_layers(q)
    assert r["phase"] == ["solid", "solid", "liquid", "liquid", "liquid", "liquid", "solid",
                          "solid", "solid"]
    assert r["xi_l"] == 4 and r["xi_s"] == 5 and r["depth"] == 9
    assert r["layers"].tolist() == list(range(1, 10))
    assert r["liquid"].dtype == bool
    # paper count for the L - 1 = 9 hidden spin layers of an L = 10 network
    assert an.classify_layers(q, depth=10)["xi_s"] == 6
    assert an.classify_layers(q, threshold=0.5)["xi_l"] == 5


def test_classify_layers_bad_input():
    with pytest.raises(ValueError, match=r"q_star must be finite, got q_star\[1\] = nan"):
        an.classify_layers([0.1, float("nan")])
    with pytest.raises(ValueError, match=r"q_star must be 1-D, got q_star with shape \(2, 2\)"):
        an.classify_layers(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="depth must be >= the number of layers"):
        an.classify_layers([0.1, 0.2], depth=1)
    with pytest.raises(ValueError, match="layers must have the shape"):
        an.classify_layers([0.1, 0.2], layers=[1, 2, 3])


def test_phase_diagram():
    ln_alpha = [0.0, 3.2, 6.0]
    q = np.array([[0.1, 0.1, 0.1, 0.1, 0.9],
                  [0.9, 0.1, 0.1, 0.1, 0.9],
                  [0.9, 0.9, 0.1, 0.9, 0.9]])
    d = an.phase_diagram(ln_alpha, q)
    assert d["xi_s"].tolist() == [1, 2, 4]
    assert d["xi_l"].tolist() == [4, 3, 1]
    assert d["phase"].shape == (3, 5)
    assert d["phase"][2].tolist() == ["solid", "solid", "liquid", "solid", "solid"]
    assert np.array_equal(d["liquid"], q < INV_E)
    for k in range(3):
        assert an.classify_layers(q[k])["xi_s"] == d["xi_s"][k]
    assert an.phase_diagram(ln_alpha, q, depth=6)["xi_s"].tolist() == [2, 3, 5]
    with pytest.raises(ValueError, match=r"K = len\(ln_alpha\) = 2"):
        an.phase_diagram([1.0, 2.0], q)
    with pytest.raises(ValueError, match=r"q_star_profiles must be finite, got "
                                         r"q_star_profiles\[1, 2\] = inf"):
        an.phase_diagram(ln_alpha, np.where(np.arange(15).reshape(3, 5) == 7, np.inf, q))


def test_fit_xi_s_recovers_known_line():
    x = np.linspace(0.0, 6.0, 7)
    f = an.fit_xi_s(x, 1.5 + 0.75 * x)
    assert f.a == pytest.approx(1.5) and f.b == pytest.approx(0.75)
    assert f.a_err == pytest.approx(0.0, abs=1e-10) and f.b_err == pytest.approx(0.0, abs=1e-10)
    assert f.dof == 5 and f.cov.shape == (2, 2)
    assert f(2.0) == pytest.approx(3.0)


def test_fit_xi_s_errors_match_scipy():
    rng = np.random.default_rng(1)
    x = np.linspace(0.0, 6.0, 12)
    y = 2.0 + 1.2 * x + rng.normal(scale=0.3, size=x.size)
    f = an.fit_xi_s(x, y)
    ref = stats.linregress(x, y)
    assert f.b == pytest.approx(ref.slope) and f.a == pytest.approx(ref.intercept)
    assert f.b_err == pytest.approx(ref.stderr) and f.a_err == pytest.approx(ref.intercept_stderr)
    _, cov = np.polyfit(x, y, 1, cov=True)            # order (b, a)
    assert f.cov[0, 1] == pytest.approx(cov[0, 1])
    assert np.allclose(f.residuals, y - (f.a + f.b * x))
    assert abs(f.b - 1.2) < 3 * f.b_err


def test_fit_xi_s_bad_input():
    with pytest.raises(ValueError, match=r"at least 3 points .* got 2"):
        an.fit_xi_s([1.0, 2.0], [1, 2])
    with pytest.raises(ValueError, match="two distinct values"):
        an.fit_xi_s([1.0, 1.0, 1.0], [1, 2, 3])
    with pytest.raises(ValueError, match=r"xi_s must have the shape of ln_alpha \(3,\)"):
        an.fit_xi_s([1.0, 2.0, 3.0], [1, 2])
    with pytest.raises(ValueError, match=r"ln_alpha must be finite, got ln_alpha\[0\] = nan"):
        an.fit_xi_s([float("nan"), 2.0, 3.0], [1, 2, 3])


# ---------------------------------------------------------------- overlaps

# 5 configurations: sample 7 has replicas 0, 2, 3; sample 4 has replicas 1, 4.
Q5 = np.array([[1.0, 0.1, 0.7, 0.5, 0.0],
               [0.1, 1.0, 0.2, 0.3, 0.9],
               [0.7, 0.2, 1.0, 0.6, 0.4],
               [0.5, 0.3, 0.6, 1.0, -0.2],
               [0.0, 0.9, 0.4, -0.2, 1.0]])
S5 = np.array([7, 4, 7, 7, 4])


def test_pair_average_hand_computation():
    q7 = (0.7 + 0.5 + 0.6) / 3
    q4 = 0.9
    assert an.pair_average(Q5, S5) == pytest.approx((q7 + q4) / 2)
    cross = [0.1, 0.0, 0.2, 0.4, 0.3, -0.2]        # (0,1) (0,4) (1,2) (2,4) (1,3) (3,4)
    assert an.pair_average(Q5, S5, same_sample=False) == pytest.approx(np.mean(cross))
    m, s = an.pair_average(Q5, S5, return_sem=True)
    assert m == pytest.approx((q7 + q4) / 2)
    assert s == pytest.approx(np.std([q7, q4], ddof=1) / math.sqrt(2))
    # leading axes (time, layer) are kept
    stack = np.stack([np.stack([Q5, 2 * Q5]), np.stack([3 * Q5, -Q5])])     # (2, 2, 5, 5)
    out = an.pair_average(stack, S5)
    assert out.shape == (2, 2)
    assert np.allclose(out, np.array([[1, 2], [3, -1]]) * (q7 + q4) / 2)
    # invariant under relabelling of the configurations
    p = np.array([3, 0, 4, 1, 2])
    assert an.pair_average(Q5[np.ix_(p, p)], S5[p]) == pytest.approx((q7 + q4) / 2)


def test_pair_average_reads_upper_triangle_only():
    Qu = np.triu(Q5)
    assert an.pair_average(Qu, S5) == pytest.approx(an.pair_average(Q5, S5))
    assert an.pair_average(Qu, S5, same_sample=False) == pytest.approx(
        an.pair_average(Q5, S5, same_sample=False))


def test_pair_average_bad_input():
    with pytest.raises(ValueError, match="no sample has two or more replicas"):
        an.pair_average(Q5, [0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="at least two samples"):
        an.pair_average(Q5, [0] * 5, same_sample=False)
    with pytest.raises(ValueError, match=r"sample_index must be 1-D with one entry per "
                                         r"configuration \(5\), got sample_index with shape \(4,\)"):
        an.pair_average(Q5, S5[:4])
    with pytest.raises(ValueError, match=r"Qab must be square .* shape \(5, 4\)"):
        an.pair_average(Q5[:, :4], S5)
    bad = Q5.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"Qab must be finite, got Qab\[2, 3\] = nan"):
        an.pair_average(bad, S5)


def test_global_average():
    c = np.arange(24.0).reshape(2, 3, 4)
    assert np.allclose(an.global_average(c), c.mean(axis=-1))
    assert np.allclose(an.global_average(c, axis=1), c.mean(axis=1))
    assert an.global_average([0.2, 0.4]) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="axis=3"):
        an.global_average(c, axis=3)
    with pytest.raises(ValueError, match=r"values_by_layer\[0, 1\] = nan"):
        an.global_average([[1.0, np.nan]])


def test_normalized_overlap_is_cosine():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(3, 6, 40)) * np.array([0.1, 1.0, 0.5, 0.3, 2.0, 1.0])[:, None]
    Q = X @ np.swapaxes(X, -1, -2) / X.shape[-1]        # (3, 6, 6)
    Qn = an.normalized_overlap(Q)
    unit = X / np.linalg.norm(X, axis=-1, keepdims=True)
    assert np.allclose(Qn, unit @ np.swapaxes(unit, -1, -2))
    assert np.allclose(np.diagonal(Qn, axis1=-2, axis2=-1), 1.0)
    bad = Q.copy()
    bad[1, 4, 4] = 0.0
    with pytest.raises(ValueError, match=r"Q\^aa must be > 0 .* Qab\[1, 4, 4\] = 0.0"):
        an.normalized_overlap(bad)


def test_histogram_pair_labels_tiny_example():
    h = an.pair_overlap_histogram(Q5, S5, bins=10)
    # same-sample pairs: (0,2)=0.7 (0,3)=0.5 (2,3)=0.6 (1,4)=0.9; the rest are different
    assert h.n_same == 4 and h.n_different == 6
    assert h.edges.shape == (11,) and h.edges[0] == -1.0 and h.edges[-1] == 1.0
    expect_same = np.histogram([0.7, 0.5, 0.6, 0.9], bins=h.edges)[0]
    expect_diff = np.histogram([0.1, 0.0, 0.2, 0.4, 0.3, -0.2], bins=h.edges)[0]
    assert np.array_equal(h.counts_same, expect_same)
    assert np.array_equal(h.counts_different, expect_diff)
    w = np.diff(h.edges)
    for dens in (h.density_same, h.density_different, h.density_all):
        assert np.sum(dens * w) == pytest.approx(1.0)
    assert np.allclose(h.density_same, np.histogram([0.7, 0.5, 0.6, 0.9], bins=h.edges,
                                                    density=True)[0])


def test_histogram_edges_range_and_empty_class():
    Q = np.array([[1.0, 0.5, 2.0], [0.5, 1.0, -0.5], [2.0, -0.5, 1.0]])
    h = an.pair_overlap_histogram(Q, ["a", "b", "c"], bins=[-1.0, 0.0, 1.0])
    assert h.n_same == 0 and np.all(np.isnan(h.density_same))
    assert h.counts_different.tolist() == [1, 1]          # 2.0 is out of range
    assert h.n_different == 3
    h2 = an.pair_overlap_histogram(Q, [0, 0, 0], bins=3, range=(0.0, 3.0))
    assert h2.counts_same.tolist() == [1, 0, 1] and h2.n_different == 0


def test_histogram_bad_input():
    with pytest.raises(ValueError, match=r"Q must be square .* shape \(5, 4\)"):
        an.pair_overlap_histogram(Q5[:, :4], S5)
    with pytest.raises(ValueError, match=r"Q must be a 2-D \(n, n\) matrix"):
        an.pair_overlap_histogram(np.stack([Q5, Q5]), S5)
    with pytest.raises(ValueError, match="bins must be a positive integer"):
        an.pair_overlap_histogram(Q5, S5, bins=0)
    with pytest.raises(ValueError, match=r"range must be \(low, high\)"):
        an.pair_overlap_histogram(Q5, S5, range=(1.0, -1.0))
    with pytest.raises(ValueError, match="bin edges must be increasing"):
        an.pair_overlap_histogram(Q5, S5, bins=[0.0, 0.5, 0.2])
    bad = Q5.copy()
    bad[0, 4] = np.inf
    with pytest.raises(ValueError, match=r"Q\[0, 4\] = inf"):
        an.pair_overlap_histogram(bad, S5)


# ---------------------------------------------------------------- clustering

def _block_matrix(seed=0):
    """Two blocks (sizes 5 and 4), overlap ~0.8 inside, ~0.1 between, shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.array([0] * 5 + [1] * 4)
    Q = np.where(labels[:, None] == labels[None, :], 0.8, 0.1)
    noise = rng.uniform(-0.05, 0.05, size=Q.shape)
    Q = Q + (noise + noise.T) / 2
    np.fill_diagonal(Q, 0.6)                 # raw self-overlaps are not 1
    p = rng.permutation(9)
    return Q[np.ix_(p, p)], labels[p]


def _leaves(Z, node, n):
    if node < n:
        return {int(node)}
    row = Z[int(node) - n]
    return _leaves(Z, row[0], n) | _leaves(Z, row[1], n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_diagonal_gives_two_top_clusters(seed):
    Q, labels = _block_matrix(seed)
    res = an.cluster_overlap_matrix(Q)
    n = Q.shape[0]
    assert res.Z.shape == (n - 1, 4)
    top = [_leaves(res.Z, res.Z[-1, 0], n), _leaves(res.Z, res.Z[-1, 1], n)]
    blocks = [set(np.flatnonzero(labels == 0)), set(np.flatnonzero(labels == 1))]
    assert sorted(top, key=min) == sorted(blocks, key=min)
    # root merge at the largest cross distance 1 - min(Q between blocks)
    cross = Q[np.ix_(sorted(blocks[0]), sorted(blocks[1]))]
    assert res.Z[-1, 2] == pytest.approx(1 - cross.min())
    fc = hierarchy.fcluster(res.Z, 2, criterion="maxclust")
    assert len(set(zip(fc, labels))) == 2
    # the reordered matrix is block diagonal: each block is contiguous in the leaf order
    assert sorted(res.order.tolist()) == list(range(n))
    ordered = labels[res.order]
    assert np.count_nonzero(np.diff(ordered)) == 1
    assert np.array_equal(res.reordered, Q[np.ix_(res.order, res.order)])
    assert an.dendrogram_data(res.Z)["leaves"] == res.order.tolist()


def test_cluster_complete_linkage_matches_definition():
    # D^{AB} = max d^{ab}: first merge (0,1) at 0.1, then {0,1} with 2 at max(0.3, 0.5)
    Q = np.array([[1.0, 0.9, 0.7], [0.9, 1.0, 0.5], [0.7, 0.5, 1.0]])
    Z = an.cluster_overlap_matrix(Q).Z
    assert Z[:, 2] == pytest.approx([0.1, 0.5])
    Zs = an.cluster_overlap_matrix(Q, method="single").Z
    assert Zs[:, 2] == pytest.approx([0.1, 0.3])


def test_cluster_clips_overlaps_above_one():
    Q = np.array([[1.0, 1.0 + 1e-9, 0.2], [1.0 + 1e-9, 1.0, 0.1], [0.2, 0.1, 1.0]])
    Z = an.cluster_overlap_matrix(Q).Z
    assert Z[0, 2] == 0.0


def test_cluster_bad_input():
    Q, _ = _block_matrix()
    with pytest.raises(ValueError, match=r"Q must be square .* shape \(9, 8\)"):
        an.cluster_overlap_matrix(Q[:, :8])
    asym = Q.copy()
    asym[0, 1] += 0.3
    with pytest.raises(ValueError, match=r"Q must be symmetric, got Q\[0, 1\]"):
        an.cluster_overlap_matrix(asym)
    nan = Q.copy()
    nan[3, 3] = np.nan
    with pytest.raises(ValueError, match=r"Q must be finite, got Q\[3, 3\] = nan"):
        an.cluster_overlap_matrix(nan)
    with pytest.raises(ValueError, match="method='ward'"):
        an.cluster_overlap_matrix(Q, method="ward")
    with pytest.raises(ValueError, match=r"at least 2 x 2"):
        an.cluster_overlap_matrix([[1.0]])
    with pytest.raises(ValueError, match="not a valid linkage matrix"):
        an.dendrogram_data(np.ones((3, 4)))
    with pytest.raises(ValueError, match="no_plot"):
        an.dendrogram_data(an.cluster_overlap_matrix(Q).Z, no_plot=False)


# ---------------------------------------------------------------- tables

def test_format_table():
    text = an.format_table(["a", "bb"], [[1, "x"], [2.5, None], [np.float32(0.125), "yy"]])
    lines = text.split("\n")
    assert lines[0] == "    a  bb"
    assert lines[1] == "-----  --"
    assert lines[2] == "    1  x"
    assert lines[3] == "  2.5  -"
    assert lines[4] == "0.125  yy"
    with pytest.raises(ValueError, match=r"rows\[1\] with 1 cells"):
        an.format_table(["a", "b"], [[1, 2], [3]])


def test_summary_table():
    q = [0.9, 0.1, 0.05, 0.7]
    text = an.summary_table(q, tau=[None, 12.0, 3.0, None], layers=[1, 2, 3, 4], depth=5,
                            columns={"q_norm": [0.99, 0.97, 0.96, 0.98]})
    head, rule, *body, foot = text.split("\n")
    assert head.split() == ["layer", "tau_l", "q_l*", "q_norm", "phase"]
    assert [r.split()[-1] for r in body] == ["solid", "liquid", "liquid", "solid"]
    assert body[0].split()[1] == "-"
    assert foot.startswith("xi_l = 2, xi_s = 3 (L = 5")
    with pytest.raises(ValueError, match="same length"):
        an.summary_table(q, tau=[1.0])
    with pytest.raises(ValueError, match=r"tau\[0\] = 'x'"):
        an.summary_table(q, tau=["x", 1, 2, 3])


# ---------------------------------------------------------------- doctests

@pytest.mark.parametrize("name", ["mdlearn.analysis", "mdlearn.analysis.relaxation",
                                  "mdlearn.analysis.phase", "mdlearn.analysis.overlap",
                                  "mdlearn.analysis.cluster", "mdlearn.analysis.table"])
def test_module_doctests(name):
    result = doctest.testmod(importlib.import_module(name), verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_public_functions_have_examples():
    for name in an.__all__:
        obj = getattr(an, name)
        if callable(obj) and not isinstance(obj, type):
            assert ">>>" in (obj.__doc__ or ""), name


def test_docs_examples_run():
    if not DOCS.exists():
        pytest.skip("docs/analysis.md not present")
    result = doctest.testfile(str(DOCS), module_relative=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0
