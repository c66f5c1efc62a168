"""Back-propagation baseline: the TDLM's network trained by ordinary minibatch SGD.

The paper leaves the comparison with "standard DNNs trained by stochastic gradient descent"
to future work (Discussion). This module trains exactly the network the TDLM learns, with the
same data, and reports the same observables, so TDLM and SGD can be put side by side:

- network: N_0 inputs, L - 1 hidden layers of N units, N_L outputs (an ``md.Network``);
  forward pass h_l = J_l s_{l-1} / sqrt(N_{l-1}) (``normalize=True``, the test network's
  scaling, eq. 12) or h_l = J_l s_{l-1} (``normalize=False``, eq. 2 verbatim), hidden units
  s_l = tanh(h_l);
- loss (``loss=``): ``"mse"``: sum_i (tanh(h_{L,i}) - S_{L,i})^2 / 2 against the +-1 targets,
  averaged over the minibatch; ``"xent"``: cross-entropy of softmax(h_L) against the class
  argmax(S_L);
- update: J <- J - lr * (g + momentum buffer), the usual heavy-ball form
  b <- momentum * b + grad, J <- J - lr * b; then every weight is clipped to [-1, 1] (the
  TDLM box; ``clip=False`` disables it);
- samples: independent initial weights uniform in (-1, 1), each with its own minibatch
  sequence (epoch-wise reshuffled, the last incomplete batch of an epoch dropped);
- replicas (``replicas=N_r, t_w=...``): at step t_w every sample is copied N_r times (weights
  and momentum buffers); from then on every copy draws its own minibatch order, the SGD
  analogue of fresh Maxwell-Boltzmann velocities in Appendix C;
- observables at the steps where ``every`` fires: the sgn test accuracy A(t) of the test
  network of Appendix D (``mdlearn.network.feed_forward`` + ``classify``, argmax rule), the
  tanh-network test accuracy, the training accuracy (sgn network) and training loss (full
  training set), and the weight overlaps Q_l^{ab} = J_l^a . J_l^b / (N_l N_{l-1}) (eq. 18)
  between all configurations, with their same-sample pair average Q_l(t, t_w) (as
  ``mdlearn.compute.ReplicaOverlap``) and its normalised form Q^{ab} / sqrt(Q^{aa} Q^{bb}).

Random numbers: the initial weights of sample s come from a generator keyed by (seed, s); the
minibatch order of configuration (s, a) after the e-th spawn from one keyed by (seed, s, a,
e), so a configuration's trajectory does not depend on how many run beside it.

Example (a few hundred SGD steps on 100 embedded MNIST digits, about a second):

>>> import mdlearn as md
>>> from mdlearn.baseline import SGDBaseline
>>> data = md.datasets.mnist01(n_train=100, n_test=100, seed=0)
>>> net = md.Network(n_in=784, width=10, depth=4, n_out=2)
>>> sgd = SGDBaseline(net, data, samples=2, lr=0.2, batch=10, momentum=0.9,
...                   replicas=2, t_w=100, seed=0)
>>> out = sgd.run(300, every=md.trigger.LogSpaced(first=1, last=300, per_decade=4))
>>> out["test_acc"].shape, out["Q_matrix"].shape        # (T, R) and (T, L, R, R), R = 2 x 2
((11, 4), (11, 4, 4, 4))
>>> bool(out["test_acc"][-1].mean() > 0.9), bool(abs(sgd.weights[0]).max() <= 1)
(True, True)
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np
import torch

from .compute import normalize_overlaps, same_sample_pair_average
from .errors import MDLearnError, check_positive_int, check_real
from .network import Network, classify, feed_forward

__all__ = ["SGDBaseline"]

_TAG_INIT = 11
_TAG_BATCH = 12


def _generator(*key: int) -> torch.Generator:
    ss = np.random.SeedSequence([int(k) & 0xFFFFFFFFFFFFFFFF for k in key])
    g = torch.Generator()
    g.manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)))
    return g


def _as_trigger(every, steps: int):
    from .trigger import LogSpaced, as_trigger
    if every is None:
        return LogSpaced(first=1, last=max(1, steps), per_decade=10, zero=True)
    return as_trigger(every)


class SGDBaseline:
    """Minibatch SGD on the TDLM's network and data (see the module docstring).

    Parameters
    ----------
    net : md.Network (N_0, N, L, N_L).
    data : md.datasets.Dataset (``train`` and ``test`` splits, +-1 inputs and targets).
    samples : N_s independent initial conditions.
    lr, batch, momentum : learning rate, minibatch size (<= M), heavy-ball momentum in [0, 1).
    loss : "mse" (squared error of tanh outputs against +-1 targets) or "xent" (cross-entropy
        on the output pre-activation).
    normalize : divide pre-activations by sqrt(N_{l-1}) (default True, as the test network).
    clip : clip weights to [-1, 1] after every update (default True).
    replicas, t_w : spawn N_r copies of every sample at step t_w (None: no replicas).
    seed, dtype, device : as for md.System.

    Attributes: ``weights`` (list of L tensors (R, N_l, N_{l-1})), ``sample``, ``replica``
    (R,) int64, ``step``.

    >>> import mdlearn as md
    >>> data = md.datasets.random_scenario(n_train=16, n_test=8, n_in=6, seed=0)
    >>> sgd = SGDBaseline(md.Network(6, 4, 3, 2), data, samples=2, batch=4, replicas=2, t_w=5)
    >>> out = sgd.run(10, every=[0, 5, 10])
    >>> out["step"].tolist(), out["Q_layers"].shape, out["sample"].tolist(), out["replica"].tolist()
    ([0, 5, 10], (3, 3), [0, 0, 1, 1], [0, 1, 0, 1])
    """

    def __init__(self, net: Network, data, samples: int = 1, lr: float = 0.1, batch: int = 20,
                 momentum: float = 0.0, loss: str = "mse", normalize: bool = True,
                 clip: bool = True, replicas: Optional[int] = None, t_w: Optional[int] = None,
                 seed: int = 0, dtype="float32", device="cpu"):
        if not isinstance(net, Network):
            raise MDLearnError(f"net must be an md.Network, got {type(net).__name__}")
        self.net = net
        self.samples = check_positive_int("samples", samples)
        self.lr = check_real("lr", lr, positive=True)
        self.batch = check_positive_int("batch", batch)
        self.momentum = check_real("momentum", momentum, nonnegative=True)
        if self.momentum >= 1:
            raise MDLearnError(f"momentum must be in [0, 1), got {momentum!r}")
        if loss not in ("mse", "xent"):
            raise MDLearnError(f"unknown loss {loss!r}: use 'mse' or 'xent'")
        self.loss_name = loss
        self.normalize = bool(normalize)
        self.clip = bool(clip)
        if (replicas is None) != (t_w is None):
            raise MDLearnError("give both replicas and t_w, or neither")
        self.replicas = None if replicas is None else check_positive_int("replicas", replicas)
        self.t_w = None if t_w is None else check_positive_int("t_w", t_w, allow_zero=True)
        self.seed = check_positive_int("seed", seed, allow_zero=True)
        self.dtype = {"float32": torch.float32, "float64": torch.float64}.get(dtype, dtype)
        self.device = torch.device(device)

        tr, te = data.train, data.test
        self.x_train = torch.as_tensor(np.asarray(tr.inputs), dtype=self.dtype, device=self.device)
        self.y_train = torch.as_tensor(np.asarray(tr.targets), dtype=self.dtype, device=self.device)
        self.x_test = torch.as_tensor(np.asarray(te.inputs), dtype=self.dtype, device=self.device)
        self.y_test = torch.as_tensor(np.asarray(te.targets), dtype=self.dtype, device=self.device)
        if self.x_train.shape[1] != net.n_in or self.y_train.shape[1] != net.n_out:
            raise MDLearnError(f"data has N_0 = {self.x_train.shape[1]}, N_L = "
                               f"{self.y_train.shape[1]}; the network expects n_in = {net.n_in}, "
                               f"n_out = {net.n_out}")
        self.M = self.x_train.shape[0]
        if self.batch > self.M:
            raise MDLearnError(f"batch = {self.batch} exceeds the {self.M} training examples")
        self.labels_train = self.y_train.argmax(dim=1)

        sizes = net.sizes
        self.sizes = sizes
        self.L = len(sizes) - 1
        self.weights: List[torch.Tensor] = []
        per_sample = []
        for s in range(self.samples):
            g = _generator(self.seed, _TAG_INIT, s)
            per_sample.append([torch.rand(sizes[l + 1], sizes[l], generator=g, dtype=torch.float64)
                               * 2 - 1 for l in range(self.L)])
        self.weights = [torch.stack([w[l] for w in per_sample]).to(self.dtype).to(self.device)
                        for l in range(self.L)]
        self.buffers = [torch.zeros_like(J) for J in self.weights]
        self.sample = torch.arange(self.samples, dtype=torch.int64)
        self.replica = torch.zeros(self.samples, dtype=torch.int64)
        self.epoch = 0
        self.step = 0
        self._spawned = False
        self._new_streams()

    # ------------------------------------------------------------------ internals
    @property
    def R(self) -> int:
        return self.weights[0].shape[0]

    def _new_streams(self):
        self._gens = [_generator(self.seed, _TAG_BATCH, int(s), int(a), self.epoch)
                      for s, a in zip(self.sample.tolist(), self.replica.tolist())]
        self._perm = [torch.randperm(self.M, generator=g) for g in self._gens]
        self._pos = 0

    def _next_batch(self) -> torch.Tensor:
        if self._pos + self.batch > self.M:
            self._perm = [torch.randperm(self.M, generator=g) for g in self._gens]
            self._pos = 0
        idx = torch.stack([p[self._pos:self._pos + self.batch] for p in self._perm])
        self._pos += self.batch
        return idx.to(self.device)   # (R, B)

    def _scales(self):
        return [1.0 / math.sqrt(n) if self.normalize else 1.0 for n in self.sizes[:-1]]

    def _forward(self, x: torch.Tensor, weights) -> torch.Tensor:
        """x (R, B, N_0) -> output pre-activation h_L (R, B, N_L), tanh hidden units."""
        s = x
        scales = self._scales()
        for l, J in enumerate(weights):
            h = torch.bmm(s, J.transpose(1, 2)) * scales[l]
            s = torch.tanh(h) if l < self.L - 1 else h
        return s

    def _loss(self, h: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-configuration mean loss (R,)."""
        if self.loss_name == "mse":
            return 0.5 * ((torch.tanh(h) - y) ** 2).sum(dim=-1).mean(dim=-1)
        logp = torch.log_softmax(h, dim=-1)
        return -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(dim=-1)

    def _spawn(self):
        n = self.replicas
        self.weights = [J.repeat_interleave(n, dim=0) for J in self.weights]
        self.buffers = [b.repeat_interleave(n, dim=0) for b in self.buffers]
        self.sample = self.sample.repeat_interleave(n)
        self.replica = torch.arange(n, dtype=torch.int64).repeat(self.R // n) + \
            self.replica.repeat_interleave(n) * n
        self.epoch += 1
        self._new_streams()
        self._spawned = True

    def sgd_step(self):
        """One minibatch SGD step for every configuration."""
        idx = self._next_batch()
        x = self.x_train[idx]                       # (R, B, N_0)
        y = self.y_train[idx]
        lab = self.labels_train[idx]
        ws = [J.detach().requires_grad_(True) for J in self.weights]
        loss = self._loss(self._forward(x, ws), y, lab).sum()
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            new = []
            for l, (J, g) in enumerate(zip(self.weights, grads)):
                if self.momentum > 0:
                    self.buffers[l].mul_(self.momentum).add_(g)
                    g = self.buffers[l]
                J = J - self.lr * g
                if self.clip:
                    J = J.clamp_(-1.0, 1.0)
                new.append(J)
            self.weights = new
        self.step += 1

    # ------------------------------------------------------------------ observables
    @torch.no_grad()
    def observe(self) -> Dict[str, torch.Tensor]:
        """Observables of the current weights (see the module docstring)."""
        R = self.R
        h_test = feed_forward(self.x_test, self.weights, activation="sgn")
        h_test_tanh = feed_forward(self.x_test, self.weights, activation="tanh")
        h_train = feed_forward(self.x_train, self.weights, activation="sgn")
        x = self.x_train.unsqueeze(0).expand(R, -1, -1)
        y = self.y_train.unsqueeze(0).expand(R, -1, -1)
        lab = self.labels_train.unsqueeze(0).expand(R, -1)
        loss = self._loss(self._forward(x, self.weights), y, lab)
        Q = torch.stack([
            (lambda W: W @ W.T / W.shape[1])(J.reshape(R, -1).to(torch.float64))
            for J in self.weights])                                   # (L, R, R)
        return {
            "test_acc": classify(h_test, self.y_test),
            "test_acc_tanh": classify(h_test_tanh, self.y_test),
            "train_acc": classify(h_train, self.y_train),
            "loss": loss.to(torch.float64),
            "Q_matrix": Q,
            "Q_layers": same_sample_pair_average(Q, self.sample),
            "Q_layers_normalized": same_sample_pair_average(normalize_overlaps(Q), self.sample),
        }

    # ------------------------------------------------------------------ run
    def run(self, steps: int, every=None, progress: bool = False) -> Dict[str, np.ndarray]:
        """Advance ``steps`` SGD steps; record observables at the steps where ``every`` fires
        (a trigger, an int period or a list of steps; default: step 0 plus 10 log-spaced
        steps per decade), including the current step when it fires.

        Returns numpy arrays: ``step`` (T,); per configuration ``test_acc``, ``test_acc_tanh``,
        ``train_acc``, ``loss`` (T, R); ``Q_matrix`` (T, L, R, R); ``Q_layers`` and
        ``Q_layers_normalized`` (T, L), NaN while there are no replica pairs; ``sample`` and
        ``replica`` (R,). R is the number of configurations at the end of the call: rows
        recorded before the replica spawn are repeated for every replica of their sample
        (they are the same trajectory). Spawning happens before recording at step t_w.
        """
        check_positive_int("steps", steps, allow_zero=True)
        trig = _as_trigger(every, steps)
        end = self.step + steps
        if self.t_w is not None and not self._spawned and self.t_w > end:
            raise MDLearnError(f"t_w = {self.t_w} lies after the end of the run (step {end})")
        recs = []
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=steps, unit="step")
        while True:
            if self.t_w is not None and not self._spawned and self.step == self.t_w:
                self._spawn()
            if trig(self.step):
                recs.append((self.step, self.R, self.observe()))
            if self.step >= end:
                break
            self.sgd_step()
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return self._stack(recs)

    def _stack(self, recs) -> Dict[str, np.ndarray]:
        R = self.R
        out: Dict[str, np.ndarray] = {"step": np.array([r[0] for r in recs], dtype=np.int64)}
        keys = ("test_acc", "test_acc_tanh", "train_acc", "loss", "Q_matrix", "Q_layers",
                "Q_layers_normalized")
        for k in keys:
            rows = []
            for _step, r, vals in recs:
                v = vals[k]
                f = R // r
                if f > 1 and k in ("test_acc", "test_acc_tanh", "train_acc", "loss"):
                    v = v.repeat_interleave(f, dim=0)
                elif f > 1 and k == "Q_matrix":
                    v = v.repeat_interleave(f, dim=1).repeat_interleave(f, dim=2)
                rows.append(v.cpu().numpy())
            if rows:
                out[k] = np.stack(rows)
            else:
                shape = {"Q_matrix": (0, self.L, R, R), "Q_layers": (0, self.L),
                         "Q_layers_normalized": (0, self.L)}.get(k, (0, R))
                out[k] = np.zeros(shape)
        out["sample"] = self.sample.numpy().copy()
        out["replica"] = self.replica.numpy().copy()
        return out

    def config(self) -> dict:
        return {"class": "SGDBaseline", "sizes": list(self.sizes), "samples": self.samples,
                "lr": self.lr, "batch": self.batch, "momentum": self.momentum,
                "loss": self.loss_name, "normalize": self.normalize, "clip": self.clip,
                "replicas": self.replicas, "t_w": self.t_w, "seed": self.seed}
