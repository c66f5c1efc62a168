"""Paper Fig. S4: waiting-time dependence of the weight relaxation time tau_l^C.

tau_l^C is defined by C_l(tau, t_w) = 1/e; the run with replicas at the largest t_w carries the
auto-correlations at every t_w of the scale (the same run as Fig. 3's). (b) shows C_l at the
largest t_w, to see which layers never reach 1/e.

Scales: paper: M = 2000, N = 10, t_w in {1e3, 1e4, 5e4}, t* = 5e5. laptop: M = 200, N = 10,
t_w in {1e3, 5e3}, t* = 2e4. tiny: M = 20, N = 4, L = 4, t_w in {20, 50}, t* = 200.
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/figS4.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    return {"ref": [C.corr_spec(args)]}


def draw(args, runs):
    out = C.figure_path(args, "figS4.png")
    plot.figS4(runs["ref"], out)
    return [out]


def main(argv=None):
    return C.deck_main("figS4", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
