"""Paper Fig. 3: layer-dependent training dynamics at the reference alpha.

One correlation run per waiting time t_w (replicas spawned at t_w; auto-correlations against
the configurations at every t_w of the scale). Draws (a) c_l(t, t_w) for the central and the
last hidden layer (l = 5 and 9 at L = 10), (b) tau_l^c vs t_w, (c) q_l(t, t_w) per layer at
the largest t_w, (d) q_l* vs l with standard errors, the normalised q_l* and the overlaps of
the test network's internal representations, (e) the normalised q_l(t, t_w), (f) q_l* for
each t_w.

Scales: paper: M = 2000, N = 10 (ln alpha = 5.3), L = 10, t_w in {1e3, 1e4, 5e4}, t* = 5e5,
N_s x N_r = 8 x 6. laptop: M = 200 embedded images, N = 10 (ln alpha = 3.0), t_w in
{1e3, 5e3}, t* = 2e4, 2 x 3. tiny: M = 20, N = 4, L = 4, t_w in {20, 50}, t* = 200.
All runs: per-step thermostat, kT = 1e-5, dt = 1e-2, eta = 1e-3, TDLM(normalize=True)
(examples/paper/_common.py says why).

    python examples/paper/fig3.py --scale laptop
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
from mdlearn import plot  # noqa: E402


def specs(args):
    return {"aging": C.aging_specs(args)}


def draw(args, runs):
    out = C.figure_path(args, "fig3.png")
    plot.fig3(runs["aging"], out, t_star=args.scale_.t_star)
    return [out]


def main(argv=None):
    return C.deck_main("fig3", __doc__, specs, draw, argv)


if __name__ == "__main__":
    main()
