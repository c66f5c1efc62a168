"""Data: embedded MNIST 0/1, IDX files, synthetic scenarios."""
import gzip
import struct

import numpy as np
import pytest

import mdlearn as md
from mdlearn.datasets import read_idx, idx_dataset


def test_embedded_mnist01_conventions():
    d = md.datasets.mnist01(n_train=100, n_test=50, seed=0)
    assert d.train.inputs.shape == (100, 784) and d.test.inputs.shape == (50, 784)
    assert set(np.unique(d.train.inputs)) == {-1.0, 1.0}
    # digit 0 -> (+1, -1), digit 1 -> (-1, +1)
    for split in (d.train, d.test):
        assert np.all(split.targets[split.labels == 0] == [1, -1])
        assert np.all(split.targets[split.labels == 1] == [-1, 1])
    # deterministic split, disjoint
    d2 = md.datasets.mnist01(n_train=100, n_test=50, seed=0)
    assert np.array_equal(d.train.inputs, d2.train.inputs)
    d3 = md.datasets.mnist01(n_train=100, n_test=50, seed=1)
    assert not np.array_equal(d.train.inputs, d3.train.inputs)
    assert 0.3 < d.train.labels.mean() < 0.7


def test_threshold_and_limits():
    a = md.datasets.mnist01(n_train=20, n_test=0, threshold=0.1)
    b = md.datasets.mnist01(n_train=20, n_test=0, threshold=0.9)
    assert (a.train.inputs > 0).sum() > (b.train.inputs > 0).sum()
    with pytest.raises(ValueError, match="2128"):
        md.datasets.mnist01(n_train=2000, n_test=400)
    with pytest.raises(ValueError, match="threshold"):
        md.datasets.mnist01(n_train=10, threshold=1.5)


def write_idx(path, arr, gz):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reader(tmp_path, gz):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = np.array([0, 1, 2] * 10, dtype=np.uint8)
    sfx = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{sfx}", imgs, gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", labels, gz)
    assert np.array_equal(read_idx(tmp_path / f"train-images-idx3-ubyte{sfx}"), imgs)
    d = idx_dataset(str(tmp_path), n_train=10, n_test=5, classes=(0, 1))
    assert d.train.inputs.shape == (10, 784)
    d2 = md.datasets.mnist01(n_train=10, n_test=5, directory=str(tmp_path))
    assert np.array_equal(d.train.inputs, d2.train.inputs)


def test_idx_errors(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="magic"):
        read_idx(p)
    with pytest.raises(ValueError, match="does not exist"):
        md.datasets.idx_directory(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="no "):
        md.datasets.idx_directory(str(tmp_path))


def test_synthetic_scenarios():
    r = md.datasets.random_scenario(n_train=50, n_test=10, n_in=20, seed=0)
    assert r.train.inputs.shape == (50, 20) and set(np.unique(r.train.inputs)) == {-1.0, 1.0}
    t = md.datasets.teacher_student(n_train=40, n_test=10, n_in=20, width=5, depth=3, seed=0)
    assert t.train.targets.shape == (40, 2)
    # the teacher classifies its own data perfectly with the sgn network
    import torch
    from mdlearn.network import feed_forward, classify
    W = [torch.as_tensor(w[None]) for w in t.info["teacher"]]
    h = feed_forward(torch.as_tensor(t.train.inputs), W)
    assert classify(h, torch.as_tensor(t.train.targets)).item() == 1.0
