"""Training data as fixed boundaries: real MNIST 0/1 (embedded), IDX files, synthetic scenarios.

Conventions (docs/decisions.md):
- inputs are +-1: grey level / 255 > threshold -> +1, else -1 (threshold 0.5 by default);
- labels are one-hot in +-1: class c -> +1 at position c, -1 elsewhere; for the 0/1 task
  digit 0 -> (+1, -1), digit 1 -> (-1, +1);
- splits are deterministic: a seeded permutation of all images, the first ``n_test`` images
  of it form the test set and the next ``n_train`` the training set.
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from importlib import resources
from typing import Optional, Sequence

import numpy as np
import torch

from ..errors import MDLearnError, check_positive_int, check_real

__all__ = ["Split", "Dataset", "mnist01", "from_images", "read_idx", "idx_directory",
           "random_scenario", "teacher_student", "one_hot_pm", "binarize"]


@dataclass
class Split:
    """One part of a data set: ``inputs`` (M, N_0) and ``targets`` (M, N_L), both +-1 float64
    numpy arrays, and integer class ``labels`` (M,)."""

    inputs: np.ndarray
    targets: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return self.inputs.shape[0]

    def tensors(self, dtype=torch.float64, device="cpu"):
        return (torch.as_tensor(self.inputs, dtype=dtype, device=device),
                torch.as_tensor(self.targets, dtype=dtype, device=device))


@dataclass
class Dataset:
    """A training and a test split plus a description (``name``, ``info`` dict).

    >>> d = random_scenario(n_train=8, n_test=4, n_in=5, seed=0)
    >>> d.train.inputs.shape, d.test.targets.shape
    ((8, 5), (4, 2))
    """

    train: Split
    test: Split
    name: str = ""
    info: Optional[dict] = None

    @property
    def n_in(self):
        return self.train.inputs.shape[1]

    @property
    def n_out(self):
        return self.train.targets.shape[1]


def one_hot_pm(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Class labels -> one-hot vectors in +-1 (shape (M, n_classes))."""
    labels = np.asarray(labels).astype(np.int64)
    out = -np.ones((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def binarize(images: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """uint8 grey levels (any shape (M, ...)) -> flat +-1 float64 array (M, prod(...))."""
    check_real("threshold", threshold)
    if not 0.0 <= threshold < 1.0:
        raise MDLearnError(f"threshold must be in [0, 1), got threshold={threshold!r}")
    x = np.asarray(images).reshape(len(images), -1).astype(np.float64) / 255.0
    return np.where(x > threshold, 1.0, -1.0)


def from_images(images, labels, *, n_train, n_test, seed=0, threshold=0.5, classes=None,
                name="images") -> Dataset:
    """Build a Dataset from grey-level images and class labels with the project's conventions.

    ``classes`` selects and orders the classes kept (default: all, sorted); class ``classes[k]``
    gets one-hot position k.
    """
    labels = np.asarray(labels).astype(np.int64)
    images = np.asarray(images)
    if images.shape[0] != labels.shape[0]:
        raise MDLearnError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    if classes is None:
        classes = sorted(set(labels.tolist()))
    classes = list(classes)
    keep = np.isin(labels, classes)
    images, labels = images[keep], labels[keep]
    check_positive_int("n_train", n_train)
    check_positive_int("n_test", n_test, allow_zero=True)
    if n_train + n_test > len(labels):
        raise MDLearnError(
            f"n_train + n_test = {n_train + n_test} exceeds the {len(labels)} images available "
            f"for classes {classes}")
    perm = np.random.default_rng(seed).permutation(len(labels))
    test_idx, train_idx = perm[:n_test], perm[n_test:n_test + n_train]
    cls_index = {c: k for k, c in enumerate(classes)}
    y = np.array([cls_index[c] for c in labels.tolist()], dtype=np.int64)
    x = binarize(images, threshold)

    def split(idx):
        return Split(x[idx], one_hot_pm(y[idx], len(classes)), y[idx])

    info = dict(n_train=n_train, n_test=n_test, seed=seed, threshold=threshold, classes=classes)
    return Dataset(split(train_idx), split(test_idx), name=name, info=info)


def _embedded_path():
    return resources.files(__name__).joinpath("mnist01_subset.npz")


def mnist01(n_train: int = 200, n_test: int = 400, seed: int = 0, threshold: float = 0.5,
            directory: Optional[str] = None) -> Dataset:
    """MNIST digits 0 and 1, binarised, as in the paper (Appendix A).

    Without ``directory`` the embedded subset (2128 real digits) is used: it works offline and
    allows n_train + n_test <= 2128. With ``directory`` the standard IDX files of the full MNIST
    (``train-images-idx3-ubyte[.gz]`` ...) are read from there (both MNIST files pooled).

    >>> d = mnist01(n_train=10, n_test=5)
    >>> d.train.inputs.shape, sorted(set(d.train.inputs.ravel().tolist()))
    ((10, 784), [-1.0, 1.0])
    """
    if directory is None:
        with resources.as_file(_embedded_path()) as p, np.load(p) as z:
            images, labels = z["images"], z["labels"]
        name = "mnist01-embedded"
    else:
        images, labels = idx_directory(directory)
        name = f"mnist01:{directory}"
    return from_images(images, labels, n_train=n_train, n_test=n_test, seed=seed,
                       threshold=threshold, classes=[0, 1], name=name)


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped (``.gz``) or not, into a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise MDLearnError(f"{path} is not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise MDLearnError(f"{path}: unknown IDX data type code 0x{code:02x}")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = int(np.prod(shape)) if ndim else 1
    body = data[4 + 4 * ndim:]
    if len(body) != count * dtype.itemsize:
        raise MDLearnError(f"{path}: expected {count * dtype.itemsize} data bytes for shape "
                           f"{shape}, found {len(body)}")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(directory, name)
        if os.path.exists(p):
            return p
    return None


def idx_directory(directory: str, parts: Sequence[str] = ("train", "t10k")):
    """Read and pool the image/label IDX pairs found in ``directory`` (MNIST naming:
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-...``, optionally .gz).
    Works for MNIST, Fashion-MNIST and any data set in the same layout."""
    if not os.path.isdir(directory):
        raise MDLearnError(f"IDX directory {directory!r} does not exist")
    images, labels = [], []
    for part in parts:
        pi = _find(directory, f"{part}-images-idx3-ubyte")
        pl = _find(directory, f"{part}-labels-idx1-ubyte")
        if pi is None or pl is None:
            continue
        im, lb = read_idx(pi), read_idx(pl)
        if im.shape[0] != lb.shape[0]:
            raise MDLearnError(f"{pi} has {im.shape[0]} images but {pl} has {lb.shape[0]} labels")
        images.append(im)
        labels.append(lb)
    if not images:
        raise MDLearnError(f"no '<part>-images-idx3-ubyte[.gz]' files found in {directory!r}")
    return np.concatenate(images), np.concatenate(labels)


def idx_dataset(directory: str, *, n_train: int, n_test: int, classes=(0, 1), seed: int = 0,
                threshold: float = 0.5) -> Dataset:
    """A Dataset from any IDX directory (full MNIST, Fashion-MNIST, ...)."""
    images, labels = idx_directory(directory)
    return from_images(images, labels, n_train=n_train, n_test=n_test, seed=seed,
                       threshold=threshold, classes=list(classes), name=f"idx:{directory}")


def random_scenario(n_train: int, n_test: int = 0, n_in: int = 784, n_out: int = 2,
                    seed: int = 0) -> Dataset:
    """Random scenario: i.i.d. +-1 inputs and uniformly random class labels (one-hot +-1)."""
    check_positive_int("n_train", n_train)
    check_positive_int("n_test", n_test, allow_zero=True)
    check_positive_int("n_in", n_in)
    check_positive_int("n_out", n_out)
    rng = np.random.default_rng(seed)
    m = n_train + n_test
    x = rng.choice([-1.0, 1.0], size=(m, n_in))
    y = rng.integers(0, n_out, size=m)
    t = one_hot_pm(y, n_out)
    return Dataset(Split(x[:n_train], t[:n_train], y[:n_train]),
                   Split(x[n_train:], t[n_train:], y[n_train:]), name="random",
                   info=dict(scenario="random", seed=seed))


def teacher_student(n_train: int, n_test: int = 0, n_in: int = 784, width: int = 10,
                    depth: int = 10, n_out: int = 2, seed: int = 0) -> Dataset:
    """Teacher-student scenario: random +-1 inputs labelled by a random teacher network of the
    given shape (weights uniform in (-1, 1), sgn hidden units as in eq. (12)); the class is the
    argmax of the teacher's output pre-activation, encoded one-hot +-1. The teacher's weights
    are kept in ``info['teacher']``."""
    from ..network import Network, feed_forward
    net = Network(n_in=n_in, width=width, depth=depth, n_out=n_out)
    rng = np.random.default_rng(seed)
    m = n_train + n_test
    x = rng.choice([-1.0, 1.0], size=(m, n_in))
    sizes = net.sizes
    weights = [rng.uniform(-1, 1, size=(1, sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    h = feed_forward(torch.as_tensor(x), [torch.as_tensor(w) for w in weights])[0].numpy()
    y = h.argmax(axis=-1)
    t = one_hot_pm(y, n_out)
    return Dataset(Split(x[:n_train], t[:n_train], y[:n_train]),
                   Split(x[n_train:], t[n_train:], y[n_train:]), name="teacher-student",
                   info=dict(scenario="teacher-student", seed=seed, teacher=[w[0] for w in weights]))
