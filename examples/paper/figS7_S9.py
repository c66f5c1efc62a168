"""Paper Figs. S7, S8, S9: P(Q_l^{ab}) in every layer for three storage ratios.

N fixed, M varied (paper: ln alpha = 0, 3.2, 6.0 with N = 10, i.e. M = 10, 250, 4000); replicas
spawned at t_w = 1e3, Q_l^{ab} at t = t* after t_w, same-sample and different-sample pairs.
One figure per alpha: figS7.png, figS8.png, figS9.png.

Scales: paper: N = 10, M in {10, 250, 4000}, L = 10, t_w = 1e3, t* = 5e5, (N_s, N_r) = (20, 8)
(needs --mnist-dir). laptop: N = 10, M in {10, 50, 200} (ln alpha = 0, 1.6, 3.0), t_w = 1e3,
t* = 2e4, (3, 4). tiny: N = 4, M in {5, 10, 20}, L = 4, t_w = 20, t* = 200, (2, 3).
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/figS7_S9.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    sizes = C.scale_values(args, tiny=(5, 10, 20), laptop=(10, 50, 200), paper=(10, 250, 4000))
    ns, nr = C.scale_values(args, tiny=(2, 3), laptop=(3, 4), paper=(20, 8))
    return {"pq": [C.pq_spec(args, M=m, N=args.scale_.N, samples=ns, replicas=nr)
                   for m in sizes]}


def draw(args, runs):
    outs = []
    for name, path in zip(("figS7", "figS8", "figS9"), runs["pq"]):
        out = C.figure_path(args, name + ".png")
        plot.pq_layers(path, out)
        outs.append(out)
    return outs


def main(argv=None):
    return C.deck_main("figS7_S9", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
