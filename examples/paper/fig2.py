"""Paper Fig. 2: global training dynamics and test accuracy.

(a-d) E(t)/E(0) and A(t) for the alpha sweeps with M fixed (N varied) and N fixed (M varied),
(e, f) E* and A* at the end vs ln alpha, (g) the global spin auto-correlation c(t, t_w) for
several t_w, (h) c*, C*, q*, Q* (and the normalised q*, Q*) at t* vs t_w, at the reference
alpha (paper ln alpha = 5.3). The sweep runs are the correlation runs of Fig. 1b and S5
(replicas at the largest t_w), so the decks share their stores.

Scales: paper: Table S1, M = 2000 with N in {40, 20, 10, 5}, N = 10 with M in {10 ... 4000},
t* = 5e5, t_w in {1e3, 1e4, 5e4}, N_s x N_r = 8 x 6 (needs --mnist-dir). laptop: M = 200 with
N in {20, 10, 5, 3}; N = 10 with M in {20, 50, 100, 200}; t* = 2e4, t_w in {1e3, 5e3}, 2 x 3.
tiny: M = 20 with N in {2, 4, 8}; N = 4 with M in {10, 20}; t* = 200, t_w in {20, 50}.
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/fig2.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    widths, sizes = C.alpha_sweeps(args)
    sc = args.scale_
    return {"fixed_M": [C.corr_spec(args, N=n) for n in widths],
            "fixed_N": [C.corr_spec(args, M=m, N=sc.N) for m in sizes],
            "aging": C.aging_specs(args)}


def draw(args, runs):
    out = C.figure_path(args, "fig2.png")
    plot.fig2(runs["fixed_M"] + runs["fixed_N"] + runs["aging"], out, aging=runs["aging"],
              t_star=args.scale_.t_star)
    return [out]


def main(argv=None):
    return C.deck_main("fig2", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
