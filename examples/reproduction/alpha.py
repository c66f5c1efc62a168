"""Reproduction study 2b, third part: final accuracy A* against ln alpha = ln(M/N) at N = 10.

Per-step reading, kT = 1e-5, L = 10, TDLM(normalize=True) with the paper's norm energy and
with the squared energy, M in {20, 80, 800} (ln alpha = 0.7, 2.1, 4.4), N_s = 2, 1.5e4 steps;
M = 200 (ln alpha = 3.0) is in accuracy_seeds.json. The paper (Fig. 2f, t* = 5e5) finds A*
non-monotonic in ln alpha with its maximum near ln alpha = 3.2.

    python examples/reproduction/alpha.py       # ~8 min on 2 shared cores
    MDLEARN_REPRO_SCALE=0.05 python examples/reproduction/alpha.py   # smoke run

Raw numbers: docs/reproduction_data/alpha.json; ``--report`` prints the table from it
without running anything.
"""
import math

import numpy as np

from _common import load, repro_scale, report_only, run_tdlm, save

SCALE = repro_scale()


def main(argv=None):
    if report_only(argv):
        report(load("alpha.json"))
        return
    out = []
    for energy in ("norm", "sq"):
        for M in (20, 80, 800):
            rec = run_tdlm(M=M, N=10, L=10, scheme="per-step", kT=1e-5, normalize=True,
                           energy=energy, samples=2, seed=21, per_decade=6,
                           steps=max(100, int(15_000 * SCALE)), label=f"{energy}, M={M}")
            out.append(rec)
            save("alpha.json", out)
    report(out)


def report(out):
    """Print the table of the runs in ``out`` (the records of alpha.json)."""
    print("\n| energy | M | ln alpha | E/E0 | A* sgn (per sample) | A* tanh | middle |S_5| |")
    print("|---|---|---|---|---|---|---|")
    for rec in out:
        p, f = rec["params"], rec["final_per_sample"]
        print(f"| {p['energy']} | {p['M']} | {math.log(p['M'] / p['N']):.1f} | "
              f"{np.mean(f['E_over_E0']):.1e} | {np.mean(f['acc_sgn']):.3f} "
              f"({', '.join(f'{v:.3f}' for v in f['acc_sgn'])}) | {np.mean(f['acc_tanh']):.3f} | "
              f"{rec['mean_abs_S'][-1][4]:.3f} |")


if __name__ == "__main__":
    main()
