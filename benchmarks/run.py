"""The numbers of docs/performance.md: ``mdlearn bench`` at the paper's shape (M=2000, N=10,
L=10, N_0=784, R=16, float32) with the scaling table over R (1..64) and M (250..2000), printed
and saved as JSON.

    python benchmarks/run.py                      # native kernels where they build, and the
                                                  # eager step beside them, ~1 min on 2 cores
    python benchmarks/run.py --native off         # the eager engine only
    python benchmarks/run.py --compile            # torch.compile'd kernels (+ compile time)
    python benchmarks/run.py --device cuda        # on a GPU (CUDA graphs)
    python benchmarks/run.py --out results.json

Same as ``mdlearn bench --scaling`` with more timed steps; run it on an otherwise idle machine
(other processes on the same cores slow the many short operations of a step more than the
two large products of the limit).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mdlearn.bench import BenchConfig, format_results, run   # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--native", choices=["auto", "on", "off"], default="auto",
                   help="mdlearn's native CPU kernels (as mdlearn bench --native)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-scaling", action="store_true")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    a = p.parse_args(argv)
    try:
        cfg = BenchConfig(dtype=a.dtype, device=a.device, compile=a.compile, steps=a.steps,
                          repeat=a.repeat, scaling=not a.no_scaling, native=a.native)
        res = run(cfg)
    except ValueError as exc:      # a bad option: one line, as mdlearn bench says it
        p.exit(2, f"benchmarks/run.py: {exc}\n")
    print(format_results(res))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(res, fh, indent=1)
        print(f"\nwrote {a.out}")


if __name__ == "__main__":
    main()
