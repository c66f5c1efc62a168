"""Paper Fig. S5: q_l* vs l for several storage ratios alpha.

(a) M fixed, N varied; (b) N fixed, M varied (the correlation runs of Fig. 1b and Fig. 2, with
replicas at the largest t_w); (c, d) the normalised q_l*.

Scales: paper: Table S1 (M = 2000, N in {40, 20, 10, 5}; N = 10, M in {10 ... 4000}), t_w = 5e4,
t* = 5e5, 8 x 6 (needs --mnist-dir). laptop: M = 200, N in {20, 10, 5, 3}; N = 10, M in
{20, 50, 100, 200}; t_w = 5e3, t* = 2e4, 2 x 3. tiny: M = 20, N in {2, 4, 8}; N = 4, M in
{10, 20}; L = 4.
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/figS5.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    widths, sizes = C.alpha_sweeps(args)
    return {"fixed_M": [C.corr_spec(args, N=n) for n in widths],
            "fixed_N": [C.corr_spec(args, M=m, N=args.scale_.N) for m in sizes]}


def draw(args, runs):
    out = C.figure_path(args, "figS5.png")
    plot.figS5(runs["fixed_M"] + runs["fixed_N"], out)
    return [out]


def main(argv=None):
    return C.deck_main("figS5", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
