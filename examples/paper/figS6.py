"""Paper Fig. S6: effects of the network depth L.

One correlation run per depth at the reference alpha (replicas at the largest t_w): (a)
E(t)/E(0), (b) A(t), (c) q_l* vs l with the 1/e line, (d) the normalised q_l*.

Scales: paper: M = 2000, N = 10 (ln alpha = 5.3), L in {6, 8, 10, 12, 14}, t_w = 5e4,
t* = 5e5, 8 x 6. laptop: M = 200, N = 10, L in {6, 10, 14}, t_w = 5e3, t* = 2e4, 2 x 3.
tiny: M = 20, N = 4, L in {3, 4}, t_w = 50, t* = 200.
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/figS6.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    depths = C.scale_values(args, tiny=(3, 4), laptop=(6, 10, 14), paper=(6, 8, 10, 12, 14))
    return {"depths": [C.corr_spec(args, L=L) for L in depths]}


def draw(args, runs):
    out = C.figure_path(args, "figS6.png")
    plot.figS6(runs["depths"], out)
    return [out]


def main(argv=None):
    return C.deck_main("figS6", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
