"""Shared machinery of the paper decks (examples/paper/fig*.py).

Every deck: parse ``--scale tiny|laptop|paper``, ``--out DIR``, ``--device``, ``--dtype``,
``--mnist-dir``, ``--threads``, ``--workers``, ``--fresh``; describe its runs as
:class:`RunSpec` objects; run them through :func:`mdlearn.sweep.run_sweep`, one after the
other by default (:func:`run_all`; each run gets ``DIR/runs/<name>/run.zarr``, and a finished
run of the same spec is reused, so decks that share runs, e.g. Fig. 1b, 2, S3 and S5, compute
them once); then draw its figure with :mod:`mdlearn.plot` into ``DIR``.

Physics, the same in every deck (DESIGN.md sections 1, 2 and 9): the per-step reading of the
paper's thermostat (``PaperLangevin(scheme="per-step")``), kT = 1e-5 (unless the figure
varies it), dt = 1e-2, eta = 1e-3, elastic walls at +-1, and the force field
``TDLM(normalize=True)``: tanh(J_l S_{l-1} / sqrt(N_{l-1})). Without that normalisation the
first layer's pre-activations have a standard deviation of ~16, tanh saturates, layer 1 cannot
learn and the sgn test accuracy stays at ~0.5 (DESIGN.md section 1); the test network of
Appendix D has the same factor.

Scales (``SCALES``):

========  =======  ====  ====  ========  =====================  ============  ===========
scale     M (ref)  N     L     t*        t_w (aging)            N_s x N_r     time
========  =======  ====  ====  ========  =====================  ============  ===========
tiny      20       4     4     200       20, 50                 2 x 3         seconds
laptop    200      10    10    2e4       1e3, 5e3               2 x 3         minutes
paper     2000     10    10    5e5       1e3, 1e4, 5e4          8 x 6         GPU hours
========  =======  ====  ====  ========  =====================  ============  ===========

q_l* is q_l(t = t*, t_w = the largest t_w); every correlation run lasts max(t_w) + t* steps,
so every waiting time reaches the lag t*. ``--scale paper`` needs M = 2000 (and up to 4000)
training images: pass the directory of the full MNIST IDX files with ``--mnist-dir`` (the
embedded subset has 2128 images, of which 400 are the test set).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import mdlearn as md

KT, DT, ETA = 1e-5, 1e-2, 1e-3
EMBEDDED_IMAGES = 2128


@dataclass(frozen=True)
class Scale:
    name: str
    M: int                  #: reference number of training images (paper 2000)
    n_test: int             #: test images (paper 400)
    N: int                  #: reference width (paper 10: ln alpha = 5.3 with M = 2000)
    L: int                  #: depth (paper 10)
    t_star: int             #: longest lag t* (paper 5e5)
    t_ws: Tuple[int, ...]   #: waiting times of the aging runs; max = the t_w of q_l*
    t_w_pq: int             #: t_w of the overlap distributions (paper 1e3, Fig. 4, S7-S9)
    t_pq: int               #: lag of Fig. 4's overlaps (paper 1e5)
    samples: int            #: N_s of the correlation runs
    replicas: int           #: N_r of the correlation runs
    per_decade: int         #: dump frames per decade of t
    dtype: str


SCALES: Dict[str, Scale] = {
    "tiny": Scale("tiny", M=20, n_test=20, N=4, L=4, t_star=200, t_ws=(20, 50), t_w_pq=20,
                  t_pq=100, samples=2, replicas=3, per_decade=5, dtype="float64"),
    "laptop": Scale("laptop", M=200, n_test=400, N=10, L=10, t_star=20_000,
                    t_ws=(1_000, 5_000), t_w_pq=1_000, t_pq=10_000, samples=2, replicas=3,
                    per_decade=10, dtype="float32"),
    "paper": Scale("paper", M=2000, n_test=400, N=10, L=10, t_star=500_000,
                   t_ws=(1_000, 10_000, 50_000), t_w_pq=1_000, t_pq=100_000, samples=8,
                   replicas=6, per_decade=10, dtype="float32"),
}


@dataclass(frozen=True)
class RunSpec:
    """One run: a System of ``samples`` independent samples of the (M, N, L) network, replicas
    spawned at ``t_spawn`` (``replicas`` >= 2) or none, auto-correlations against the
    configurations at ``auto_t_w``, ``steps`` MD steps, a Zarr store of observables only."""

    name: str
    M: int
    N: int
    L: int
    steps: int
    t_star: int
    kT: float = KT
    samples: int = 1
    replicas: int = 1
    t_spawn: Optional[int] = None
    auto_t_w: Tuple[int, ...] = ()
    matrix: bool = False          #: store the pair matrices q_l^ab, Q_l^ab
    test_overlap: bool = False    #: store the test-network overlaps (Fig. 3d)
    frames: str = "log"           #: "log" (log-spaced in t and in t - t_w) or "sparse"
    seed: int = 1
    label: str = ""

    @property
    def ln_alpha(self) -> float:
        return math.log(self.M / self.N)

    def describe(self) -> str:
        rep = (f", {self.samples} x {self.replicas} replicas at t_w = {self.t_spawn}"
               if self.t_spawn is not None else f", {self.samples} samples")
        return (f"{self.name}: M = {self.M}, N = {self.N}, L = {self.L}, "
                f"ln alpha = {self.ln_alpha:.2f}, kT = {self.kT:g}{rep}, {self.steps} steps")


# ---------------------------------------------------------------------------- arguments
def parse_args(doc: str, argv=None, extra=None) -> argparse.Namespace:
    """The decks' common options (``extra(parser)`` may add more)."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None,
                                epilog="Scales and physics: see examples/paper/_common.py and "
                                       "docs/figures.md.")
    p.add_argument("--scale", choices=sorted(SCALES), default="laptop",
                   help="tiny (seconds, tests), laptop (minutes on 2 cores, default), paper "
                        "(the paper's parameters; needs --mnist-dir and a GPU)")
    p.add_argument("--out", default=None,
                   help="output directory (figures; stores under OUT/runs); default "
                        "paper-figures/<scale>")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1 ...)")
    p.add_argument("--dtype", default=None, choices=["float32", "float64"],
                   help="working precision (default: float32; float64 at the tiny scale)")
    p.add_argument("--mnist-dir", default=None,
                   help="directory with the full MNIST IDX files (train-images-idx3-ubyte[.gz] "
                        "...); needed when M + 400 > 2128 (the embedded subset)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default 1 on the CPU: at these sizes the step is "
                        "a chain of small operations, and two threads on a busy 2-core "
                        "machine were measured ~15x slower than one)")
    p.add_argument("--fresh", action="store_true",
                   help="rerun even when a complete store of the same run exists")
    p.add_argument("--seed", type=int, default=1, help="base seed of the runs")
    p.add_argument("--workers", type=int, default=1,
                   help="runs at a time (mdlearn.sweep process pool; default 1: one after "
                        "the other in this process)")
    p.add_argument("--progress", action="store_true", help="show a progress bar per run")
    p.add_argument("--quiet", action="store_true", help="no thermo table")
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    args.scale_ = SCALES[args.scale]
    args.out = args.out or os.path.join("paper-figures", args.scale)
    args.dtype = args.dtype or args.scale_.dtype
    threads = args.threads or (1 if str(args.device).startswith("cpu") else None)
    if threads:
        import torch
        torch.set_num_threads(threads)
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    return args


def figure_path(args, name: str) -> str:
    return os.path.join(args.out, name)


# ---------------------------------------------------------------------------- run specs
def _steps(sc: Scale) -> int:
    return max(sc.t_ws) + sc.t_star


def corr_spec(args, M=None, N=None, L=None, kT=KT, t_spawn=None, samples=None,
              replicas=None, label="") -> RunSpec:
    """A correlation run: replicas spawned at ``t_spawn`` (default: the largest t_w),
    auto-correlations at every t_w of the scale, max(t_w) + t* steps. Shared by Fig. 1b, 2,
    3, S2-S6 (same parameters -> same store)."""
    sc = args.scale_
    M, N, L = M or sc.M, N or sc.N, L or sc.L
    t_spawn = max(sc.t_ws) if t_spawn is None else t_spawn
    samples, replicas = samples or sc.samples, replicas or sc.replicas
    name = f"corr_M{M}_N{N}_L{L}_T{kT:g}_tw{t_spawn}_s{samples}x{replicas}"
    return RunSpec(name=name, M=M, N=N, L=L, kT=kT, steps=_steps(sc), t_star=sc.t_star,
                   samples=samples, replicas=replicas, t_spawn=t_spawn,
                   auto_t_w=tuple(sorted(sc.t_ws)), matrix=samples * replicas <= 64,
                   test_overlap=True, seed=args.seed, label=label)


def plain_spec(args, M=None, N=None, L=None, kT=KT, samples=None, label="") -> RunSpec:
    """A run without replicas: E(t) and A(t) only, t* steps (Fig. S1)."""
    sc = args.scale_
    M, N, L = M or sc.M, N or sc.N, L or sc.L
    samples = samples or sc.samples
    return RunSpec(name=f"plain_M{M}_N{N}_L{L}_T{kT:g}_s{samples}", M=M, N=N, L=L, kT=kT,
                   steps=sc.t_star, t_star=sc.t_star, samples=samples, seed=args.seed,
                   label=label)


def pq_spec(args, M=None, N=None, L=None, samples=2, replicas=2, lag=None, label="") -> RunSpec:
    """An overlap-distribution run (Fig. 4, S7-S9): replicas spawned at t_w_pq, pair
    matrices stored at a few frames only (they grow as (N_s N_r)^2), lag ``lag`` after t_w
    (default t*)."""
    sc = args.scale_
    M, N, L = M or sc.M, N or sc.N, L or sc.L
    lag = sc.t_star if lag is None else lag
    return RunSpec(name=f"pq_M{M}_N{N}_L{L}_tw{sc.t_w_pq}_t{lag}_s{samples}x{replicas}", M=M,
                   N=N, L=L, steps=sc.t_w_pq + lag, t_star=lag, samples=samples,
                   replicas=replicas, t_spawn=sc.t_w_pq, matrix=True, frames="sparse",
                   seed=args.seed, label=label)


# ---------------------------------------------------------------------------- running
_DATA: Dict[tuple, object] = {}


def dataset(args, M: int):
    n_test = args.scale_.n_test
    key = (M, n_test, args.mnist_dir)
    if key not in _DATA:
        if args.mnist_dir is None and M + n_test > EMBEDDED_IMAGES:
            raise SystemExit(f"M = {M} training + {n_test} test images exceed the embedded "
                             f"MNIST subset ({EMBEDDED_IMAGES} images): pass --mnist-dir DIR "
                             "with the full MNIST IDX files")
        _DATA[key] = md.datasets.mnist01(n_train=M, n_test=n_test, seed=0,
                                         directory=args.mnist_dir)
    return _DATA[key]


def _trigger(spec: RunSpec, per_decade: int):
    T = md.trigger
    if spec.frames == "sparse":
        pts = {0, spec.steps}
        if spec.t_spawn is not None:
            pts |= {spec.t_spawn, spec.t_spawn + max(1, spec.t_star // 10),
                    spec.t_spawn + spec.t_star}
        return T.At(sorted(p for p in pts if p <= spec.steps))
    trigs = [T.LogSpaced(1, spec.steps, per_decade, zero=True)]
    for tw in sorted(set(spec.auto_t_w) | ({spec.t_spawn} if spec.t_spawn is not None else set())):
        last = min(spec.t_star, spec.steps - tw)
        if last >= 1:
            trigs.append(T.LogSpaced(1, last, per_decade, offset=tw, zero=True))
    return T.Any(*trigs)


def _spec_json(spec: RunSpec) -> str:
    return json.dumps(dataclasses.asdict(spec), sort_keys=True)


def run_dir(args, spec: RunSpec) -> str:
    """Directory of one run: its store ``run.zarr`` and the sweep marker ``DONE.json``."""
    return os.path.join(args.out, "runs", spec.name)


def store_path(args, spec: RunSpec) -> str:
    return os.path.join(run_dir(args, spec), "run.zarr")


def complete(path: str, spec: RunSpec) -> bool:
    """Whether ``path`` holds a finished run of exactly ``spec``."""
    if not os.path.isdir(path):
        return False
    try:
        run = md.io.open_run(path)
        deck = run.parameters.get("deck") or {}
        if json.dumps(deck.get("spec"), sort_keys=True) != _spec_json(spec):
            return False
        return spec.steps in run.observable("potential_energy")["step"].tolist()
    except Exception:
        return False


def build(args, spec: RunSpec, deck: str = ""):
    """The Simulation of one run (not yet run), writing to :func:`store_path`."""
    data = dataset(args, spec.M)
    net = md.Network(n_in=784, width=spec.N, depth=spec.L, n_out=2)
    system = md.System.create(net, data, samples=spec.samples, dtype=args.dtype,
                              device=args.device, seed=spec.seed, kT=spec.kT)
    sim = md.Simulation(
        system,
        forcefield=md.forcefield.TDLM(normalize=True),
        integrator=md.integrate.PaperLangevin(dt=DT, eta=ETA, kT=spec.kT, scheme="per-step"),
        seed=spec.seed, progress=bool(args.progress))
    sim.fixes.append(md.fix.ReflectiveWall())
    has_replicas = spec.t_spawn is not None and spec.replicas >= 2
    if has_replicas:
        sim.fixes.append(md.fix.SpawnReplicas(n=spec.replicas, t_w=spec.t_spawn))
    sim.computes += [md.compute.LayerEnergies(), md.compute.TestAccuracy(data.test)]
    if spec.auto_t_w:
        sim.computes.append(md.compute.AutoCorrelation(t_w=list(spec.auto_t_w)))
    if has_replicas:
        sim.computes.append(md.compute.ReplicaOverlap(matrix=spec.matrix))
        if spec.test_overlap:
            sim.computes.append(md.compute.TestOverlap(data.test))
    if not args.quiet:
        sim.dumps.append(md.dump.Thermo(md.trigger.Periodic(max(1, spec.steps // 5))))
    sim.dumps.append(md.dump.Zarr(store_path(args, spec), _trigger(spec, args.scale_.per_decade),
                                  spins=None, weights=False, overwrite=True))
    sim.deck_config = {"deck": deck, "scale": args.scale, "spec": dataclasses.asdict(spec),
                       "t_star": spec.t_star, "label": spec.label,
                       "scheme": "per-step", "normalize": True}
    return sim


def run_task(args, spec: RunSpec, deck: str = "") -> dict:
    """Run one spec into :func:`store_path` (a sweep task; picklable for process pools)."""
    path = store_path(args, spec)
    print(f"[{deck}] run {spec.describe()}", flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    sim = build(args, spec, deck)
    sim.run(spec.steps)
    sim.close()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"[{deck}] done {spec.name} in {seconds:.1f} s (CPU {cpu:.1f} s)", flush=True)
    return {"store": path, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}


def run_all(args, specs: Sequence[RunSpec], deck: str = "") -> List[str]:
    """Run the specs (duplicates once) and return their store paths in the order given.

    Runs go through :func:`mdlearn.sweep.run_sweep`: one after the other in this process by
    default, or ``--workers N`` processes. A run whose directory holds a finished store of the
    same spec is reused (``--fresh`` reruns it)."""
    from mdlearn.sweep import Task, run_sweep
    uniq: Dict[str, RunSpec] = {}
    for s in specs:
        uniq.setdefault(s.name, s)
    tasks = []
    for name, s in uniq.items():
        marker = os.path.join(run_dir(args, s), "DONE.json")
        if os.path.exists(marker) and (args.fresh or not complete(store_path(args, s), s)):
            os.remove(marker)
        tasks.append(Task(name=name, fn=run_task, kwargs={"args": args, "spec": s, "deck": deck},
                          directory=run_dir(args, s)))
    workers = getattr(args, "workers", 1) or 1
    t0 = time.perf_counter()
    results = run_sweep(tasks, executor="serial" if workers == 1 else "process",
                        max_workers=workers)
    for r in results:
        if r.skipped:
            print(f"[{deck}] reuse {store_path(args, uniq[r.name])}", flush=True)
        else:
            _log_time(args, uniq[r.name], r.value)
    print(f"[{deck}] {len(uniq)} run(s) ready in {time.perf_counter() - t0:.1f} s", flush=True)
    return [store_path(args, s) for s in specs]


def _log_time(args, spec, value):
    p = os.path.join(args.out, "runs", "timings.json")
    try:
        with open(p) as fh:
            t = json.load(fh)
    except (OSError, ValueError):
        t = {}
    t[spec.name] = {k: v for k, v in (value or {}).items() if k != "store"}
    with open(p, "w") as fh:
        json.dump(t, fh, indent=1, sort_keys=True)


def done(args, path: str, t0: float, deck: str = ""):
    print(f"[{deck}] wrote {path} (deck total {time.perf_counter() - t0:.1f} s)", flush=True)


# ---------------------------------------------------------------------------- sweeps
def alpha_sweeps(args):
    """(fixed-M widths, fixed-N training-set sizes) of the scale (paper: Table S1)."""
    return {
        "tiny": ((2, 4, 8), (10, 20)),
        "laptop": ((20, 10, 5, 3), (20, 50, 100, 200)),
        "paper": ((40, 20, 10, 5), (10, 20, 40, 80, 160, 250, 500, 1000, 2000, 4000)),
    }[args.scale]


def scale_values(args, **by_scale):
    """The value of a per-scale choice: ``scale_values(args, tiny=..., laptop=..., paper=...)``."""
    return by_scale[args.scale]


def aging_specs(args) -> List[RunSpec]:
    """One correlation run at the reference (M, N, L) per waiting time of the scale."""
    return [corr_spec(args, t_spawn=tw) for tw in args.scale_.t_ws]


def deck_main(deck: str, doc: str, make_specs, draw, argv=None):
    """Run a deck: ``make_specs(args)`` -> {role: [RunSpec]}, run them all (in order,
    duplicates once, complete stores reused), then ``draw(args, {role: [store path]})`` ->
    list of figure paths."""
    t0, c0 = time.perf_counter(), time.process_time()
    args = parse_args(doc, argv)
    groups = make_specs(args)
    flat = [s for g in groups.values() for s in g]
    paths = run_all(args, flat, deck)
    by_name = dict(zip([s.name for s in flat], paths))
    roles = {k: [by_name[s.name] for s in v] for k, v in groups.items()}
    outs = draw(args, roles)
    for o in outs:
        print(f"[{deck}] wrote {o}", flush=True)
    print(f"[{deck}] total {time.perf_counter() - t0:.1f} s (CPU of this process "
          f"{time.process_time() - c0:.1f} s)", flush=True)
    return outs
