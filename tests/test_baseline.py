"""Tests of the back-propagation baseline (mdlearn.baseline.SGDBaseline). Tiny shapes."""
import math

import numpy as np
import pytest
import torch

import mdlearn as md
from mdlearn.baseline import SGDBaseline
from mdlearn.datasets import Dataset, Split, one_hot_pm


def separable(n_train=40, n_test=40, n_in=8, seed=0):
    """+-1 inputs labelled by a random binary (+-1) linear teacher: linearly separable by
    weights in the box (clipped SGD pushes weights to the corners of the box, where a binary
    teacher lives; a real-valued teacher need not be reachable there)."""
    rng = np.random.default_rng(seed)
    w = rng.choice([-1.0, 1.0], size=n_in)
    x = rng.choice([-1.0, 1.0], size=(n_train + n_test, n_in))
    h = x @ w
    keep = np.abs(h) > 0.5          # drop ties (h = 0)
    x, h = x[keep], h[keep]
    lab = (h > 0).astype(np.int64)
    t = one_hot_pm(lab, 2)
    n = min(n_train, len(x) // 2)
    return Dataset(Split(x[:n], t[:n], lab[:n]), Split(x[n:], t[n:], lab[n:]), name="sep")


NET = md.Network(n_in=8, width=4, depth=2, n_out=2)


@pytest.mark.parametrize("loss", ["mse", "xent"])
def test_learns_separable_problem(loss):
    data = separable()
    perceptron = md.Network(n_in=8, width=1, depth=1, n_out=2)   # sizes (8, 2): linear
    sgd = SGDBaseline(perceptron, data, samples=2, lr=0.5, batch=8, momentum=0.9, loss=loss,
                      seed=0, dtype="float64")
    out = sgd.run(150, every=[0, 150])
    assert out["train_acc"].shape == (2, 2)
    assert (out["train_acc"][-1] == 1.0).all()
    assert (out["test_acc"][-1] == 1.0).all()
    assert (out["loss"][-1] < out["loss"][0]).all()
    # a hidden layer too: the sgn test network still fits the training set
    deep = SGDBaseline(NET, data, samples=2, lr=0.5, batch=8, momentum=0.9, loss=loss, seed=0,
                       dtype="float64").run(150, every=[150])
    assert (deep["train_acc"][-1] >= 0.9).all()


def test_weights_stay_in_box_and_clip_option():
    data = separable()
    sgd = SGDBaseline(NET, data, samples=2, lr=50.0, batch=4, seed=1)
    sgd.run(20, every=[20])
    assert all(float(J.abs().max()) <= 1.0 for J in sgd.weights)
    free = SGDBaseline(NET, data, samples=2, lr=50.0, batch=4, seed=1, clip=False)
    free.run(20, every=[20])
    assert max(float(J.abs().max()) for J in free.weights) > 1.0


def test_initial_weights_uniform_in_box():
    data = separable()
    sgd = SGDBaseline(md.Network(8, 50, 2, 2), data, samples=3, seed=2, dtype="float64")
    J = torch.cat([w.reshape(-1) for w in sgd.weights])
    assert float(J.abs().max()) < 1.0
    assert abs(float(J.mean())) < 0.05 and abs(float((J ** 2).mean()) - 1 / 3) < 0.03


def test_overlaps_match_numpy_and_replicas():
    data = separable()
    net = md.Network(n_in=8, width=3, depth=3, n_out=2)
    sgd = SGDBaseline(net, data, samples=2, lr=0.3, batch=4, replicas=3, t_w=5, seed=3,
                      dtype="float64")
    out = sgd.run(12, every=[0, 5, 12])
    R = 6
    assert list(out["sample"]) == [0, 0, 0, 1, 1, 1]
    assert list(out["replica"]) == [0, 1, 2, 0, 1, 2]
    assert out["Q_matrix"].shape == (3, 3, R, R) and out["test_acc"].shape == (3, R)
    # eq. (18) by hand on the final weights
    for l, J in enumerate(sgd.weights):
        W = J.numpy().reshape(R, -1)
        np.testing.assert_allclose(out["Q_matrix"][-1, l], W @ W.T / W.shape[1], rtol=1e-12)
        pairs = [W[a] @ W[b] / W.shape[1] for s in (0, 3) for a in range(s, s + 3)
                 for b in range(a + 1, s + 3)]
        np.testing.assert_allclose(out["Q_layers"][-1, l], np.mean(pairs), rtol=1e-12)
    # before the spawn there are no pairs; at t_w the copies are identical, then they diverge
    assert np.isnan(out["Q_layers"][0]).all()
    np.testing.assert_allclose(out["Q_layers_normalized"][1], 1.0, rtol=1e-12)
    assert (out["Q_layers_normalized"][2] < 1 - 1e-9).any()
    np.testing.assert_array_equal(out["test_acc"][0, :3], out["test_acc"][0, 0])


def test_same_seed_same_result_and_batch_independence():
    data = separable()
    kw = dict(lr=0.3, batch=4, momentum=0.5, replicas=2, t_w=3, dtype="float64")
    a = SGDBaseline(NET, data, samples=2, seed=7, **kw).run(10, every=5)
    b = SGDBaseline(NET, data, samples=2, seed=7, **kw).run(10, every=5)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = SGDBaseline(NET, data, samples=2, seed=8, **kw).run(10, every=5)
    assert not np.array_equal(a["Q_matrix"], c["Q_matrix"])
    # sample 0's trajectory does not depend on how many samples run beside it
    one = SGDBaseline(NET, data, samples=1, seed=7, **kw)
    one.run(10, every=5)
    two = SGDBaseline(NET, data, samples=3, seed=7, **kw)
    two.run(10, every=5)
    for J1, J3 in zip(one.weights, two.weights):
        torch.testing.assert_close(J1, J3[:2], rtol=1e-12, atol=1e-12)


def test_accuracy_uses_the_sgn_test_network():
    data = separable()
    sgd = SGDBaseline(NET, data, samples=2, seed=4, dtype="float64")
    out = sgd.run(0, every=[0])
    h = md.network.feed_forward(torch.as_tensor(data.test.inputs), sgd.weights)
    ref = md.network.classify(h, torch.as_tensor(data.test.targets)).numpy()
    np.testing.assert_array_equal(out["test_acc"][0], ref)


def test_normalize_option_changes_the_forward_pass():
    data = separable()
    a = SGDBaseline(NET, data, samples=1, seed=5, dtype="float64", normalize=True)
    b = SGDBaseline(NET, data, samples=1, seed=5, dtype="float64", normalize=False)
    x = torch.as_tensor(data.train.inputs).unsqueeze(0)
    ha, hb = a._forward(x, a.weights), b._forward(x, b.weights)
    h1 = x @ a.weights[0].transpose(1, 2)
    torch.testing.assert_close(hb, torch.tanh(h1) @ a.weights[1].transpose(1, 2))
    torch.testing.assert_close(ha, torch.tanh(h1 / math.sqrt(8)) @ a.weights[1].transpose(1, 2) / 2)


def test_bad_arguments():
    data = separable()
    with pytest.raises(md.MDLearnError):
        SGDBaseline(NET, data, loss="hinge")
    with pytest.raises(md.MDLearnError):
        SGDBaseline(NET, data, replicas=2)
    with pytest.raises(md.MDLearnError):
        SGDBaseline(NET, data, batch=10_000)
    with pytest.raises(md.MDLearnError):
        SGDBaseline(NET, data, momentum=1.0)
    with pytest.raises(md.MDLearnError):
        SGDBaseline(md.Network(5, 3, 2, 2), data)
    with pytest.raises(md.MDLearnError):
        SGDBaseline(NET, data, replicas=2, t_w=50).run(10)
