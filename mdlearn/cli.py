"""Command line: ``mdlearn run DECK``, ``mdlearn bench``, ``mdlearn analyze STORE``,
``mdlearn plot STORE``, ``mdlearn info``."""
from __future__ import annotations

import argparse
import os
import runpy
import sys


def _run(args):
    deck = args.deck
    if not os.path.exists(deck):
        print(f"mdlearn run: deck {deck!r} does not exist", file=sys.stderr)
        return 2
    if args.nproc and args.nproc > 1:
        from .parallel import launch
        return launch(deck, args.nproc, args.deck_args)
    sys.argv = [deck] + list(args.deck_args)
    runpy.run_path(deck, run_name="__main__")
    return 0


def _info(args):
    import torch
    from ._version import __version__
    print(f"mdlearn {__version__}")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cuda {'yes' if torch.cuda.is_available() else 'no'}")
    return 0


def _bench(args):
    from . import bench
    return bench.run_from_args(args)


def _analyze(args):
    from .analysis import cli as acli
    return acli.analyze_main(args)


def _plot(args):
    from . import plot
    return plot.plot_main(args)


def build_parser():
    p = argparse.ArgumentParser(prog="mdlearn", description="Molecular dynamics for the thermal "
                                "deep learning machine (TDLM).")
    sub = p.add_subparsers(dest="command")

    r = sub.add_parser("run", help="run a deck (a Python input script)")
    r.add_argument("deck", help="path of the deck (.py)")
    r.add_argument("--nproc", type=int, default=1,
                   help="number of processes (torch.distributed, gloo on CPU / nccl on GPU)")
    r.add_argument("deck_args", nargs=argparse.REMAINDER, help="arguments passed to the deck")
    r.set_defaults(func=_run)

    i = sub.add_parser("info", help="versions and devices")
    i.set_defaults(func=_info)

    try:
        from . import bench
        b = sub.add_parser("bench", help="replica-steps per second against the machine's limit")
        bench.add_arguments(b)
        b.set_defaults(func=_bench)
    except ImportError:  # pragma: no cover
        pass

    try:
        from .analysis import cli as acli
        a = sub.add_parser("analyze", help="print tau_l, q_l*, phases ... of a stored run")
        acli.add_analyze_arguments(a)
        a.set_defaults(func=_analyze)
    except ImportError:  # pragma: no cover
        pass

    try:
        from . import plot
        pl = sub.add_parser("plot", help="draw a paper figure from stored runs")
        plot.add_plot_arguments(pl)
        pl.set_defaults(func=_plot)
    except ImportError:  # pragma: no cover
        pass
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        rc = args.func(args)
    except ValueError as exc:  # mdlearn's errors are ValueErrors with a clear message
        print(f"mdlearn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
