"""Paper Fig. S2: global correlation functions C(t, t_w), q(t, t_w), Q(t, t_w).

The runs of Fig. 3 (one per t_w at the reference alpha). Draws (a) C(t, t_w), (b) q(t, t_w),
(c) Q(t, t_w), (d, e) the layer averages of the normalised q, Q, (f) c(t, t_w).

Scales: as Fig. 3 (paper: M = 2000, N = 10, t_w in {1e3, 1e4, 5e4}, t* = 5e5, 8 x 6; laptop:
M = 200, N = 10, t_w in {1e3, 5e3}, t* = 2e4, 2 x 3; tiny: M = 20, N = 4, L = 4).
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/figS2.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    return {"aging": C.aging_specs(args)}


def draw(args, runs):
    out = C.figure_path(args, "figS2.png")
    plot.figS2(runs["aging"], out)
    return [out]


def main(argv=None):
    return C.deck_main("figS2", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
