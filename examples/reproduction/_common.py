"""Shared helpers of the reproduction study scripts (examples/reproduction/).

``run_tdlm`` builds the paper's network on the embedded MNIST 0/1 digits, runs TDLM dynamics
and records, at log-spaced steps, E(t)/E(0), the sgn and tanh test accuracies, the sgn
training accuracy, the accuracy of the tanh network that matches the force field
(``tanh_ff``: tanh(J S / sqrt(N_{l-1})) with ``normalize=True``, tanh(J S) without) and the
mean |S_l| per hidden layer. Everything is averaged over samples and returned as plain
lists, ready for JSON.
"""
from __future__ import annotations

import json
import math
import os
import time

import numpy as np
import torch

import mdlearn as md
from mdlearn.network import classify, feed_forward

torch.set_num_threads(int(os.environ.get("MDLEARN_THREADS", "1")))
HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "reproduction_data"))


def log_steps(last: int, per_decade: int = 10) -> list:
    """Step 0 plus log-spaced steps from 1 to ``last``."""
    return [0] + list(md.trigger.LogSpaced(first=1, last=last, per_decade=per_decade).points)


def ff_tanh_accuracy(system, test, normalize: bool) -> torch.Tensor:
    """Accuracy of the deterministic tanh network that the force field encodes."""
    x = torch.as_tensor(test.inputs, dtype=system.dtype)
    t = torch.as_tensor(test.targets, dtype=system.dtype)
    ws = system.weights
    if not normalize:   # feed_forward divides by sqrt(N_{l-1}); undo it
        ws = [J * math.sqrt(J.shape[-1]) for J in ws]
    return classify(feed_forward(x, ws, activation="tanh"), t)


def run_tdlm(*, M=200, N=10, L=10, samples=2, scheme="per-step", normalize=True,
             energy="norm", kT=1e-5, steps=10_000, per_decade=10, seed=1, data_seed=0,
             dtype="float32", wall_budget=None, label=None, verbose=True):
    """One TDLM run; returns a dict of lists (see the module docstring)."""
    torch.manual_seed(seed)
    data = md.datasets.mnist01(n_train=M, n_test=400, seed=data_seed)
    net = md.Network(n_in=784, width=N, depth=L, n_out=2)
    system = md.System.create(net, data, samples=samples, dtype=dtype, seed=seed, kT=kT)
    sim = md.Simulation(system, md.forcefield.TDLM(normalize=normalize, energy=energy),
                        md.integrate.PaperLangevin(dt=1e-2, eta=1e-3, kT=kT, scheme=scheme),
                        seed=seed, progress=False)
    sim.fixes.append(md.fix.ReflectiveWall())
    c_E = md.compute.LayerEnergies()
    c_sgn = md.compute.TestAccuracy(data.test)
    c_tanh = md.compute.TestAccuracy(data.test, activation="tanh")
    c_train = md.compute.TestAccuracy(data.train, name="train_acc")
    c_abs = md.compute.MeanAbsSpin()
    rec = {k: [] for k in ("step", "E_over_E0", "acc_sgn", "acc_tanh", "acc_tanh_ff",
                           "train_acc_sgn", "mean_abs_S")}
    E0 = None
    t0 = time.time()
    for step in log_steps(steps, per_decade):
        if step > sim.step:
            sim.run(step - sim.step, progress=False)
        E = sim.evaluate(c_E)["potential_energy"].double()
        if E0 is None:
            E0 = E.clone()
        rec["step"].append(sim.step)
        rec["E_over_E0"].append(float((E / E0).mean()))
        rec["acc_sgn"].append(float(sim.evaluate(c_sgn)["test_acc"].mean()))
        rec["acc_tanh"].append(float(sim.evaluate(c_tanh)[c_tanh.name].mean()))
        rec["acc_tanh_ff"].append(float(ff_tanh_accuracy(system, data.test, normalize).mean()))
        rec["train_acc_sgn"].append(float(sim.evaluate(c_train)["train_acc"].mean()))
        rec["mean_abs_S"].append([float(v) for v in sim.evaluate(c_abs)["mean_abs_spin"].mean(0)])
        if wall_budget is not None and time.time() - t0 > wall_budget:
            break
    rec["final_per_sample"] = {
        "acc_sgn": [float(v) for v in sim.evaluate(c_sgn)["test_acc"]],
        "acc_tanh": [float(v) for v in sim.evaluate(c_tanh)[c_tanh.name]],
        "train_acc_sgn": [float(v) for v in sim.evaluate(c_train)["train_acc"]],
        "E_over_E0": [float(v) for v in (sim.evaluate(c_E)["potential_energy"].double() / E0)]}
    rec["params"] = dict(M=M, N=N, L=L, samples=samples, scheme=scheme, normalize=normalize,
                         energy=energy, kT=kT, steps_requested=steps, steps_reached=sim.step,
                         dt=1e-2, eta=1e-3, seed=seed, dtype=dtype, label=label)
    rec["wall_s"] = time.time() - t0
    if verbose:
        print(f"  [{label or scheme}] {sim.step} steps in {rec['wall_s']:.0f} s: "
              f"E/E0 {rec['E_over_E0'][-1]:.2e}, sgn {rec['acc_sgn'][-1]:.3f}, "
              f"tanh {rec['acc_tanh'][-1]:.3f}", flush=True)
    return rec


def first_crossing(steps, values, threshold, above=True):
    """First step from which ``values`` stays on the far side of ``threshold`` (>= it if
    ``above``, <= it otherwise) until the end of the record, interpolated linearly in
    log(step) with the record before; None if the last value is not there. Requiring the
    crossing to last keeps early chance fluctuations of A(t) from counting as learning."""
    def ok(v):
        return v >= threshold if above else v <= threshold
    if not steps or not ok(values[-1]):
        return None
    i = len(values) - 1
    while i > 0 and ok(values[i - 1]):
        i -= 1
    if i == 0 or steps[i - 1] <= 0:
        return float(steps[i])
    a, b = values[i - 1], values[i]
    f = (threshold - a) / (b - a)
    la, lb = math.log(steps[i - 1]), math.log(steps[i])
    return float(math.exp(la + f * (lb - la)))


def save(name: str, payload) -> str:
    os.makedirs(DATA_DIR, exist_ok=True)
    path = os.path.join(DATA_DIR, name)
    with open(path, "w") as fh:
        json.dump(payload, fh, indent=1)
    print(f"raw numbers written to {os.path.relpath(path)}")
    return path


def load(name: str):
    """The stored raw numbers ``docs/reproduction_data/<name>``."""
    path = os.path.join(DATA_DIR, name)
    if not os.path.exists(path):
        raise SystemExit(f"{os.path.relpath(path)} does not exist: run the script without "
                         "--report first")
    with open(path) as fh:
        return json.load(fh)


def report_only(argv=None) -> bool:
    """Whether the command line asks for ``--report`` (print the stored tables, run nothing)."""
    import sys
    args = sys.argv[1:] if argv is None else list(argv)
    if "-h" in args or "--help" in args:
        main = sys.modules.get("__main__")
        print((getattr(main, "__doc__", None) or "").strip())
        print("\noptions:\n  --report   print the tables of the stored JSON, run nothing")
        raise SystemExit(0)
    unknown = [a for a in args if a != "--report"]
    if unknown:
        raise SystemExit(f"unknown argument(s) {unknown}; the only option is --report")
    return "--report" in args


def repro_scale() -> float:
    """``MDLEARN_REPRO_SCALE`` (default 1): the factor applied to every run length."""
    import os
    text = os.environ.get("MDLEARN_REPRO_SCALE", "1")
    try:
        scale = float(text)
    except ValueError:
        scale = float("nan")
    if not scale > 0 or scale == float("inf"):
        raise SystemExit(f"MDLEARN_REPRO_SCALE must be a positive number, got {text!r}")
    return scale


def fmt(v, spec=".3g"):
    return "-" if v is None else format(v, spec)
