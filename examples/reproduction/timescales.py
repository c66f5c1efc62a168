"""Reproduction study 2a: which reading of eq. (11) gives the paper's time scales?

The paper (Fig. 2, M = 2000, ln alpha = 5.3) reports tau_0 ~ 1e3 (onset of learning: A(t)
leaves 0.5) and tau_th ~ 1e4 (energy collapse: E(t)/E(0) drops to near zero). It does not say
whether t counts MD steps or time units t = step * dt (dt = 1e-2). This script runs, at
M = 200, N = 10, L = 10, kT = 1e-5:

- PaperLangevin(scheme="per-step") with the 1/sqrt(N_{l-1}) normalisation,
- the per-step reading without the normalisation (eq. 2 verbatim),
- PaperLangevin(scheme="literal") with the normalisation (eq. 9-11 as printed),

and measures, on the sample-averaged curves recorded at log-spaced steps,

- tau_0: first step where the sgn test accuracy A(t) reaches 0.6 (onset; the test set has
  400 images, so the chance level fluctuates by ~0.025), and tau_half where it reaches 0.75;
- tau_th: first step where E(t)/E(0) <= 0.1, and where it <= 0.01 (collapse),

each in steps and in time units. Crossings are interpolated in log t. "-" = not reached.

    python examples/reproduction/timescales.py          # ~12 min on 2 shared cores
    MDLEARN_REPRO_SCALE=0.1 python examples/reproduction/timescales.py   # smoke run

Raw curves: docs/reproduction_data/timescales.json; ``--report`` prints the table from it
without running anything.
"""

from _common import first_crossing, load, repro_scale, report_only, run_tdlm, save

SCALE = repro_scale()

RUNS = [
    dict(label="per-step, norm", scheme="per-step", normalize=True, steps=20_000, samples=2),
    dict(label="per-step, eq.(2) verbatim", scheme="per-step", normalize=False, steps=20_000,
         samples=2),
    dict(label="literal, norm", scheme="literal", normalize=True, steps=100_000, samples=1,
         wall_budget=480),
]


def times(rec):
    s, A, E = rec["step"], rec["acc_sgn"], rec["E_over_E0"]
    return {"tau0_A0.6": first_crossing(s, A, 0.6),
            "tau_half_A0.75": first_crossing(s, A, 0.75),
            "tau_th_E0.1": first_crossing(s, E, 0.1, above=False),
            "tau_th_E0.01": first_crossing(s, E, 0.01, above=False)}


def main(argv=None):
    if report_only(argv):
        report(load("timescales.json"))
        return
    out = []
    for cfg in RUNS:
        cfg = dict(cfg)
        cfg["steps"] = max(100, int(cfg["steps"] * SCALE))
        rec = run_tdlm(M=200, N=10, L=10, kT=1e-5, per_decade=12, **cfg)
        rec["times_steps"] = times(rec)
        out.append(rec)
        save("timescales.json", out)
    report(out)


def report(out):
    """Print the table of the runs in ``out`` (the records of timescales.json)."""
    print()
    print("paper: tau_0 ~ 1e3, tau_th ~ 1e4 (Fig. 2g-h, M = 2000, ln alpha = 5.3)")
    hdr = ("reading", "steps run", "tau_0 (A=0.6)", "tau (A=0.75)", "tau_th (E/E0=0.1)",
           "tau_th (E/E0=0.01)", "final E/E0", "final A_sgn")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for rec in out:
        t = rec["times_steps"]
        p = rec["params"]
        cells = [p["label"], str(p["steps_reached"])]
        for k in ("tau0_A0.6", "tau_half_A0.75", "tau_th_E0.1", "tau_th_E0.01"):
            v = t[k]
            cells.append("-" if v is None else f"{v:.3g} steps = {v * p['dt']:.3g} time units")
        cells += [f"{rec['E_over_E0'][-1]:.2e}", f"{rec['acc_sgn'][-1]:.3f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
