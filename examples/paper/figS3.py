"""Paper Fig. S3: layer-specific correlation functions.

(a-d) c_l, C_l, q_l, Q_l (t, t_w) for every layer at the largest t_w and the reference alpha
(the runs of Fig. 3); (e-h) the same for layer L - 2 (the paper's l = 8) and several ln alpha
(the M-fixed sweep of Fig. 1b); (i-l) the normalised q_l, Q_l.

Scales: paper: M = 2000, N = 10 and N in {40, 20, 10, 5}, t_w = 5e4, t* = 5e5, 8 x 6. laptop:
M = 200, N = 10 and N in {20, 10, 5, 3}, t_w = 5e3, t* = 2e4, 2 x 3. tiny: M = 20, N = 4 and
N in {2, 4, 8}, L = 4, t_w = 50, t* = 200.
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/figS3.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    widths, _ = C.alpha_sweeps(args)
    return {"aging": C.aging_specs(args), "sweep": [C.corr_spec(args, N=n) for n in widths]}


def draw(args, runs):
    out = C.figure_path(args, "figS3.png")
    plot.figS3(runs["aging"] + runs["sweep"], out, layer=max(1, args.scale_.L - 2))
    return [out]


def main(argv=None):
    return C.deck_main("figS3", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
