"""Paper Fig. S1: training energy E(t)/E(0) and test accuracy A(t) at several temperatures.

Runs without replicas (N_s samples each), one per kT; every run starts from a random
(T = infinity) configuration and is quenched to kT at once.

Scales: paper: M = 2000, N = 20 (ln alpha = 4.6), L = 10, kT in {1e-2, 1e-3, 1e-4, 1e-5, 1e-6},
5e5 steps, N_s = 8. laptop: M = 200, N = 10, kT in {1e-2, 1e-3, 1e-4, 1e-5}, 2e4 steps,
N_s = 2. tiny: M = 20, N = 4, L = 4, kT in {1e-3, 1e-5}, 200 steps.
Per-step thermostat, dt = 1e-2, eta = 1e-3, TDLM(normalize=True) (examples/paper/_common.py).

    python examples/paper/figS1.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    sc = args.scale_
    N = C.scale_values(args, tiny=sc.N, laptop=sc.N, paper=20)
    temps = C.scale_values(args, tiny=(1e-3, 1e-5), laptop=(1e-2, 1e-3, 1e-4, 1e-5),
                           paper=(1e-2, 1e-3, 1e-4, 1e-5, 1e-6))
    return {"temps": [C.plain_spec(args, N=N, kT=kT) for kT in temps]}


def draw(args, runs):
    out = C.figure_path(args, "figS1.png")
    plot.figS1(runs["temps"], out)
    return [out]


def main(argv=None):
    return C.deck_main("figS1", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
