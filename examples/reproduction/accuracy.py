"""Reproduction study 2b: what does it take to reach the paper's test accuracy (~0.98)?

Probe runs (DESIGN.md section 9) at M = 200, N = 10, L = 10 with the per-step reading of
eq. (11) drive the middle hidden layers to |S| ~ 0.01; without the 1/sqrt(N_{l-1})
normalisation the paper's sgn test network then scores ~0.5. This script varies one thing at
a time around that setting and reports, at the end of each run: E/E0, the sgn test accuracy
(paper, Appendix D), the tanh test accuracy (same network, tanh instead of sgn), the
accuracy of the tanh network the force field itself encodes (tanh(J S) without the
normalisation; the same as the tanh network with it), the sgn training accuracy, and the mean
|S_l| per hidden layer l = 1..9.

Variants: energy form (paper's 'norm' = sum_l E_l, or 'sq' = sum_l E_l^2 / 2) x
normalisation; a 3x longer run without normalisation; kT in {1e-6, 1e-5, 1e-4, 1e-3}; the
storage ratio alpha = M/N at N = 10 (M = 20, 80, 200, 800); the literal reading (taken from
timescales.py's run when its JSON exists).

    python examples/reproduction/accuracy.py        # ~15 min on 2 shared cores
    MDLEARN_REPRO_SCALE=0.05 python examples/reproduction/accuracy.py   # smoke run

Raw curves: docs/reproduction_data/accuracy.json; ``--report`` prints the table from it
without running anything.
"""
import json
import math
import os

from _common import DATA_DIR, load, repro_scale, report_only, run_tdlm, save

SCALE = repro_scale()
BASE = dict(M=200, N=10, L=10, scheme="per-step", kT=1e-5, energy="norm", normalize=True,
            steps=15_000, samples=2)

VARIANTS = [
    ("energy/norm", "norm energy, normalised (deck default)", {}),
    ("energy/norm", "norm energy, eq. (2) verbatim", dict(normalize=False)),
    ("energy/norm", "sq energy, normalised", dict(energy="sq")),
    ("energy/norm", "sq energy, eq. (2) verbatim", dict(energy="sq", normalize=False)),
    ("longer", "eq. (2) verbatim, 5e4 steps", dict(normalize=False, steps=50_000, samples=1)),
    ("kT", "kT = 1e-6, normalised", dict(kT=1e-6, samples=1)),
    ("kT", "kT = 1e-4, normalised", dict(kT=1e-4, samples=1)),
    ("kT", "kT = 1e-3, normalised", dict(kT=1e-3, samples=1)),
    ("kT", "kT = 1e-3, eq. (2) verbatim", dict(kT=1e-3, normalize=False, samples=1)),
    ("alpha", "M = 20 (ln alpha = 0.7), normalised", dict(M=20, samples=1)),
    ("alpha", "M = 80 (ln alpha = 2.1), normalised", dict(M=80, samples=1)),
    ("alpha", "M = 800 (ln alpha = 4.4), normalised", dict(M=800, samples=1, wall_budget=240)),
]


def literal_from_timescales():
    path = os.path.join(DATA_DIR, "timescales.json")
    if not os.path.exists(path):
        return None
    for rec in json.load(open(path)):
        if rec["params"]["scheme"] == "literal":
            rec = dict(rec)
            rec["group"] = "scheme"
            rec["params"] = dict(rec["params"], label="literal reading, normalised "
                                 "(from timescales.json)")
            return rec
    return None


def main(argv=None):
    if report_only(argv):
        report(load("accuracy.json"))
        return
    out = []
    for group, label, over in VARIANTS:
        cfg = dict(BASE, **over)
        cfg["steps"] = max(100, int(cfg["steps"] * SCALE))
        rec = run_tdlm(per_decade=8, label=label, **cfg)
        rec["group"] = group
        out.append(rec)
        save("accuracy.json", out)
    lit = literal_from_timescales()
    if lit is not None:
        out.append(lit)
        save("accuracy.json", out)
    report(out)


def report(out):
    """Print the table of the runs in ``out`` (the records of accuracy.json)."""
    print()
    hdr = ["variant", "steps", "E/E0", "A sgn", "A tanh", "A tanh(ff)", "train sgn",
           "mean |S_l|, l = 1..9"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for rec in out:
        p = rec["params"]
        S = " ".join(f"{v:.2g}" for v in rec["mean_abs_S"][-1])
        print(f"| {p['label']} | {p['steps_reached']} | {rec['E_over_E0'][-1]:.1e} | "
              f"{rec['acc_sgn'][-1]:.3f} | {rec['acc_tanh'][-1]:.3f} | "
              f"{rec['acc_tanh_ff'][-1]:.3f} | {rec['train_acc_sgn'][-1]:.3f} | {S} |")


if __name__ == "__main__":
    main()
