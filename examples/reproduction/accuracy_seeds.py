"""Reproduction study 2b, second part: sample-to-sample spread of the final test accuracy.

accuracy.py runs most variants with one or two samples; single samples scatter. This script
reruns the four energy-form x normalisation variants (per-step reading, kT = 1e-5, M = 200,
N = 10, L = 10, 1.5e4 steps) with N_s = 4 samples (seeds differ from accuracy.py's) and
prints mean, standard error and range of the sgn and tanh test accuracies over samples.

    python examples/reproduction/accuracy_seeds.py      # ~6 min on 2 shared cores
    MDLEARN_REPRO_SCALE=0.05 python examples/reproduction/accuracy_seeds.py   # smoke run

Raw numbers: docs/reproduction_data/accuracy_seeds.json; ``--report`` prints the table from
it without running anything.
"""

import numpy as np

from _common import load, repro_scale, report_only, run_tdlm, save

SCALE = repro_scale()
VARIANTS = [("norm energy, normalised", dict(energy="norm", normalize=True)),
            ("norm energy, eq. (2) verbatim", dict(energy="norm", normalize=False)),
            ("sq energy, normalised", dict(energy="sq", normalize=True)),
            ("sq energy, eq. (2) verbatim", dict(energy="sq", normalize=False))]


def stats(v):
    v = np.asarray(v)
    return f"{v.mean():.3f} +- {v.std(ddof=1) / np.sqrt(len(v)):.3f} [{v.min():.3f}, {v.max():.3f}]"


def main(argv=None):
    if report_only(argv):
        report(load("accuracy_seeds.json"))
        return
    out = []
    for label, over in VARIANTS:
        rec = run_tdlm(M=200, N=10, L=10, scheme="per-step", kT=1e-5, samples=4, seed=11,
                       steps=max(100, int(15_000 * SCALE)), per_decade=6, label=label, **over)
        out.append(rec)
        save("accuracy_seeds.json", out)
    report(out)


def report(out):
    """Print the table of the runs in ``out`` (the records of accuracy_seeds.json)."""
    print("\n| variant | A sgn: mean +- s.e. [min, max] | A tanh | train sgn | E/E0 |")
    print("|---|---|---|---|---|")
    for rec in out:
        f = rec["final_per_sample"]
        print(f"| {rec['params']['label']} | {stats(f['acc_sgn'])} | {stats(f['acc_tanh'])} | "
              f"{stats(f['train_acc_sgn'])} | {np.mean(f['E_over_E0']):.1e} |")


if __name__ == "__main__":
    main()
