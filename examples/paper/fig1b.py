"""Paper Fig. 1b: the liquid-solid phase diagram, q_l* over ln alpha and the layer l.

M fixed, N varied (paper Table S1: M = 2000, N = 40, 20, 10, 5, ln alpha = 3.9 ... 6.0); one
correlation run per N with replicas spawned at the largest t_w; q_l* = q_l(t*, t_w). Draws the
q_l* colour map with its q = 1/e contour and xi_s, xi_l vs ln alpha with the fit of eq. (1).

Scales: paper: M = 2000, N in {40, 20, 10, 5}, L = 10, t_w = 5e4, t* = 5e5, N_s x N_r = 8 x 6.
laptop: M = 200 (embedded images), N in {20, 10, 5, 3} (ln alpha = 2.3 ... 4.2), t_w = 5e3,
t* = 2e4, 2 x 3. tiny: M = 20, N in {2, 4, 8}, L = 4, t_w = 50, t* = 200.
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/fig1b.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    widths, _ = C.alpha_sweeps(args)
    return {"sweep": [C.corr_spec(args, N=n) for n in widths]}


def draw(args, runs):
    out = C.figure_path(args, "fig1b.png")
    plot.fig1b(runs["sweep"], out)
    return [out]


def main(argv=None):
    return C.deck_main("fig1b", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
