"""Paper Fig. 4: structure of the design space in a liquid and a solid layer.

Replicas spawned at t_w = 1e3 (paper), weight overlaps Q_l^{ab} at t = 1e5 after t_w: (a, d)
P(Q_l^{ab}) of same-sample and different-sample pairs for two (N_s, N_r) settings, (b, e) the
overlap matrix of 6 samples x 6 replicas sorted by complete-linkage clustering, (c, f) its
tree, and a close-up of one sample with many replicas; layers l = 5 (liquid) and 9 (solid) at
L = 10 (L/2 and L - 1 in general). Pair matrices are stored at a few frames only.

Scales: paper: M = 2000, N = 20 (ln alpha = 4.6), (N_s, N_r) = (20, 8) and (38, 16), close-up
1 x 40, t_w = 1e3, t = 1e5. laptop: M = 200, N = 10 (ln alpha = 3.0), (4, 6), close-up 1 x 12,
t_w = 1e3, t = 1e4. tiny: M = 20, N = 4, L = 4, (2, 3), close-up 1 x 4, t_w = 20, t = 100.
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/fig4.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    sc = args.scale_
    N = C.scale_values(args, tiny=sc.N, laptop=sc.N, paper=20)
    settings = C.scale_values(args, tiny=[(2, 3)], laptop=[(4, 6)], paper=[(20, 8), (38, 16)])
    close = C.scale_values(args, tiny=4, laptop=12, paper=40)
    return {"pq": [C.pq_spec(args, N=N, samples=s, replicas=r, lag=sc.t_pq) for s, r in settings],
            "closeup": [C.pq_spec(args, N=N, samples=1, replicas=close, lag=sc.t_pq)]}


def draw(args, runs):
    out = C.figure_path(args, "fig4.png")
    plot.fig4(runs["pq"], out, closeup=runs["closeup"][0], t=args.scale_.t_pq)
    return [out]


def main(argv=None):
    return C.deck_main("fig4", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
