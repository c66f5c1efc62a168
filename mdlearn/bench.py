"""``mdlearn bench``: replica-steps per second of the MD step, against a plain autograd
baseline and against the machine's limit (docs/performance.md).

For one shape (M, N, L, N_0, R), dtype and device it times, in the same run and interleaved
(so that a busy machine slows all of them alike):

- the engine: ``integrate.FusedStep`` (TDLM forces, paper Langevin per-step scheme, reflective
  walls), at the requested kT, at kT = 0 (no noise drawn) and in the other precision;
- the baseline: a straightforward PyTorch step (per-layer tensors, energy by autograd, noise
  from one generator per tensor, walls by ``fix.fold``);
- the limit: the first layer's two products for the stacked configurations, S_0 J_1^T and
  G^T S_0 (each in its faster orientation), plus drawing R * P Gaussian numbers with torch in
  one call, each timed alone at those sizes.

It prints replica-steps per second, the ratio to the baseline and the fraction of the limit
(limit time / step time), and optionally a scaling table over R and M. Every time is the best
of ``--repeat`` blocks of ``--steps`` steps (a block's mean).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Dict, List, Optional, Sequence

import torch

__all__ = ["add_arguments", "main", "run_from_args", "run", "autograd_baseline_step",
           "BenchConfig"]


def _ints(text: str) -> List[int]:
    return [int(t) for t in str(text).replace(" ", "").split(",") if t]


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``mdlearn bench`` options to ``parser``."""
    g = parser.add_argument_group("shape")
    g.add_argument("--M", type=int, default=2000, help="training examples (default 2000)")
    g.add_argument("--N", type=int, default=10, help="hidden width (default 10)")
    g.add_argument("--L", type=int, default=10, help="depth, weight layers (default 10)")
    g.add_argument("--N0", type=int, default=784, help="inputs (default 784)")
    g.add_argument("--NL", type=int, default=2, help="outputs (default 2)")
    g.add_argument("--R", type=int, default=16, help="stacked configurations (default 16)")
    g = parser.add_argument_group("run")
    g.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    g.add_argument("--device", default="cpu", help="cpu or cuda[:k] (default cpu)")
    g.add_argument("--kT", type=float, default=1e-5, help="bath temperature (default 1e-5)")
    g.add_argument("--scheme", choices=["per-step", "literal"], default="per-step")
    g.add_argument("--steps", type=int, default=10, help="steps per timed block (default 10)")
    g.add_argument("--repeat", type=int, default=3, help="timed blocks, best kept (default 3)")
    g.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: "
                   "torch's choice)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile the integrator+wall kernel (first call compiles)")
    g.add_argument("--native", choices=["auto", "on", "off"], default="auto",
                   help="the native CPU kernels (mdlearn.native; float32): auto (default) uses "
                   "them where they build and also times the eager step beside them; on "
                   "requires them; off times the eager step only")
    g.add_argument("--no-baseline", action="store_true", help="skip the autograd baseline")
    g.add_argument("--no-variants", action="store_true",
                   help="skip the kT=0 and other-precision engine runs")
    g = parser.add_argument_group("scaling table")
    g.add_argument("--scaling", action="store_true", help="add a scaling table over R and M")
    g.add_argument("--scaling-R", default="1,2,4,8,16,32,64",
                   help="R values (at --M) of the scaling table (default 1,2,4,8,16,32,64)")
    g.add_argument("--scaling-M", default="250,500,1000,2000",
                   help="M values (at --R) of the scaling table (default 250,500,1000,2000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    return parser


class BenchConfig:
    """The options of one benchmark run (see ``add_arguments`` for their meaning)."""

    def __init__(self, M=2000, N=10, L=10, N0=784, NL=2, R=16, dtype="float32", device="cpu",
                 kT=1e-5, scheme="per-step", steps=10, repeat=3, warmup=2, threads=None,
                 compile=False, baseline=True, variants=True, scaling=False,
                 scaling_R=(1, 2, 4, 8, 16, 32, 64), scaling_M=(250, 500, 1000, 2000),
                 native="auto"):
        self.M, self.N, self.L, self.N0, self.NL, self.R = M, N, L, N0, NL, R
        self.dtype, self.device, self.kT, self.scheme = dtype, device, kT, scheme
        self.steps, self.repeat, self.warmup, self.threads = steps, repeat, warmup, threads
        self.compile, self.baseline, self.variants = compile, baseline, variants
        self.scaling = scaling
        if native not in ("auto", "on", "off"):
            raise ValueError(f"--native must be auto, on or off, got {native!r}")
        self.native = native
        self.scaling_R, self.scaling_M = list(scaling_R), list(scaling_M)
        for name in ("M", "N", "L", "N0", "NL", "R", "steps", "repeat"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"--{name} must be a positive integer, got "
                                 f"{getattr(self, name)!r}")
        if warmup < 0:
            raise ValueError(f"--warmup must be >= 0, got {warmup!r}")
        if kT < 0 or not math.isfinite(kT):
            raise ValueError(f"--kT must be a finite number >= 0, got {kT!r}")

    @classmethod
    def from_args(cls, args) -> "BenchConfig":
        return cls(M=args.M, N=args.N, L=args.L, N0=args.N0, NL=args.NL, R=args.R,
                   dtype=args.dtype, device=args.device, kT=args.kT, scheme=args.scheme,
                   steps=args.steps, repeat=args.repeat, warmup=args.warmup,
                   threads=args.threads, compile=args.compile, baseline=not args.no_baseline,
                   variants=not args.no_variants, scaling=args.scaling,
                   scaling_R=_ints(args.scaling_R), scaling_M=_ints(args.scaling_M),
                   native=args.native)

    def as_dict(self) -> dict:
        return dict(M=self.M, N=self.N, L=self.L, N0=self.N0, NL=self.NL, R=self.R,
                    dtype=self.dtype, device=str(self.device), kT=self.kT, scheme=self.scheme,
                    steps=self.steps, repeat=self.repeat, warmup=self.warmup,
                    compile=self.compile, native=self.native)


# --------------------------------------------------------------------------- set-up
def _dtype(name):
    return torch.float32 if name == "float32" else torch.float64


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _make_system(cfg: BenchConfig, M: int, R: int, dtype: str, seed: int = 0):
    from .network import Network
    from .system import System
    g = torch.Generator().manual_seed(seed)
    inputs = torch.where(torch.rand(M, cfg.N0, generator=g) > 0.5, 1.0, -1.0)
    labels = torch.randint(0, cfg.NL, (M,), generator=g)
    targets = -torch.ones(M, cfg.NL)
    targets[torch.arange(M), labels] = 1.0
    net = Network(n_in=cfg.N0, width=cfg.N, depth=cfg.L, n_out=cfg.NL)
    return System.create(net, (inputs.numpy(), targets.numpy()), samples=R, dtype=dtype,
                         device=cfg.device, seed=seed, kT=cfg.kT)


class _Engine:
    """The engine's step on one system: FusedStep(TDLM, PaperLangevin, ReflectiveWall)."""

    def __init__(self, cfg: BenchConfig, M: int, R: int, dtype: str, kT: float,
                 native: bool = False):
        from .fix import ReflectiveWall
        from .forcefield import TDLM
        from .integrate import FusedStep, PaperLangevin
        from .random import STREAM_NOISE, KeyedStreams
        self.system = _make_system(cfg, M, R, dtype)
        s = self.system
        self.streams = KeyedStreams(1, STREAM_NOISE, s.sample.tolist(), s.replica.tolist(),
                                    s.epoch, s.device)
        integ = PaperLangevin(dt=1e-2, eta=1e-3, kT=kT, scheme=cfg.scheme)
        self.native = bool(native) and dtype == "float32" and s.device.type == "cpu"
        self.step = FusedStep(TDLM(normalize=True), integ, ReflectiveWall(),
                              compile=cfg.compile, native=self.native)
        #: why the native kernels do not run this step (None: they do, or were not asked for)
        self.native_reason = None
        if self.native:
            import warnings
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ok = self.step._native_module(s, self.streams) is not None
            if not ok:
                self.native_reason = (str(caught[-1].message) if caught
                                      else "the native kernels do not apply")
                self.native = False
                self.step.native = False

    def __call__(self, n: int):
        self.step(self.system, self.streams, n)


# --------------------------------------------------------------------------- the baseline
def autograd_baseline_step(state: dict, inputs: torch.Tensor, targets: torch.Tensor,
                           dt: float, eta: float, kT: float, normalize: bool = True,
                           generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One step written the straightforward way: the energy H = sum_l ||S_l - tanh(c_l
    S_{l-1} J_l^T)|| of per-layer tensors by torch operations, the forces by autograd, the
    paper's per-step Langevin update tensor by tensor with noise from ``generator``, and the
    walls by ``fix.fold``. ``state`` holds lists ``S``, ``J``, ``vS``, ``vJ`` (updated in
    place). Returns the layer energies (R, L).

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> st = dict(S=[torch.zeros(2, 3, 4)], J=[torch.zeros(2, 4, 5), torch.zeros(2, 2, 4)],
    ...           vS=[torch.zeros(2, 3, 4)], vJ=[torch.zeros(2, 4, 5), torch.zeros(2, 2, 4)])
    >>> autograd_baseline_step(st, torch.ones(3, 5), torch.ones(3, 2), 1e-2, 1e-3, 0.0).shape
    torch.Size([2, 2])
    """
    from .fix import fold
    params = [p.detach().requires_grad_(True) for p in state["S"] + state["J"]]
    nS = len(state["S"])
    S = [inputs] + params[:nS] + [targets]
    J = params[nS:]
    terms = []
    for l, Jl in enumerate(J, start=1):
        c = 1.0 / math.sqrt(Jl.shape[2]) if normalize else 1.0
        A = torch.matmul(S[l - 1], Jl.transpose(1, 2)) * c
        D = S[l] - torch.tanh(A)
        terms.append(torch.sqrt((D * D).sum(dim=(1, 2))))
    E = torch.stack(terms, dim=1)
    grads = torch.autograd.grad(E.sum(), params)
    amp = math.sqrt(eta * (2.0 - eta) * kT)
    with torch.no_grad():
        for p, v, g in zip(state["S"] + state["J"], state["vS"] + state["vJ"], grads):
            v.mul_(1.0 - eta).sub_(g, alpha=dt)
            if amp > 0:
                v.add_(torch.randn(v.shape, generator=generator, dtype=v.dtype,
                                   device=v.device), alpha=amp)
            p.add_(v, alpha=dt)
            folded, flip = fold(p)
            p.copy_(folded)
            v.mul_(1.0 - 2.0 * flip.to(v.dtype))
    return E.detach()


class _Baseline:
    def __init__(self, cfg: BenchConfig, M: int, R: int, dtype: str):
        s = _make_system(cfg, M, R, dtype)
        self.state = dict(S=[t.clone() for t in s.spins], J=[t.clone() for t in s.weights],
                          vS=[t.clone() for t in s.spin_velocities],
                          vJ=[t.clone() for t in s.weight_velocities])
        self.inputs, self.targets = s.inputs, s.targets
        self.gen = torch.Generator(device=s.device).manual_seed(1)
        self.kT = cfg.kT

    def __call__(self, n: int):
        for _ in range(n):
            autograd_baseline_step(self.state, self.inputs, self.targets, 1e-2, 1e-3, self.kT,
                                   True, self.gen)


# --------------------------------------------------------------------------- the limit
class _Limit:
    """The two first-layer products for the stacked configurations, and R * P Gaussians."""

    def __init__(self, cfg: BenchConfig, M: int, R: int, dtype: str, P: int):
        dt, dev = _dtype(dtype), cfg.device
        g = torch.Generator(device=dev).manual_seed(0)
        n = R * cfg.N
        self.S0 = torch.where(torch.rand(M, cfg.N0, generator=g, device=dev) > 0.5, 1.0,
                              -1.0).to(dt)
        self.J = torch.rand(n, cfg.N0, generator=g, device=dev, dtype=dt)
        self.G = torch.rand(n, M, generator=g, device=dev, dtype=dt)
        self.A = torch.empty(M, n, dtype=dt, device=dev)
        self.AT = torch.empty(n, M, dtype=dt, device=dev)
        self.W = torch.empty(n, cfg.N0, dtype=dt, device=dev)
        self.GT = self.G.t().contiguous()
        self.xi = torch.empty(R * P, dtype=dt, device=dev)
        self.gen = torch.Generator(device=dev).manual_seed(2)

    def products(self):
        # forward S_0 J^T and backward G^T S_0, each in both orientations (the faster counts)
        return {
            "fwd (M,N0)x(N0,RN)": lambda: torch.mm(self.S0, self.J.t(), out=self.A),
            "fwd (RN,N0)x(N0,M)": lambda: torch.mm(self.J, self.S0.t(), out=self.AT),
            "bwd (RN,M)x(M,N0)": lambda: torch.mm(self.G, self.S0, out=self.W),
            "bwd (M,RN)^T x(M,N0)": lambda: torch.mm(self.GT.t(), self.S0, out=self.W),
        }

    def gaussians(self):
        self.xi.normal_(generator=self.gen)


# --------------------------------------------------------------------------- timing
def _time_block(fn, n: int, device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn(n)
    _sync(device)
    return (time.perf_counter() - t0) / n


def _loop(f):
    def run(n):
        for _ in range(n):
            f()
    return run


def _measure(named: Dict[str, object], cfg: BenchConfig, steps: Optional[int] = None,
             repeat: Optional[int] = None, warmup: Optional[int] = None) -> Dict[str, float]:
    """Best-of-``repeat`` seconds per call of each ``fn(n)`` in ``named``, interleaved."""
    steps = cfg.steps if steps is None else steps
    repeat = cfg.repeat if repeat is None else repeat
    warmup = cfg.warmup if warmup is None else warmup
    for fn in named.values():
        if warmup:
            fn(warmup)
    _sync(cfg.device)
    best = {k: float("inf") for k in named}
    for _ in range(repeat):
        for k, fn in named.items():
            best[k] = min(best[k], _time_block(fn, steps, cfg.device))
    return best


def native_choice(cfg: BenchConfig) -> bool:
    """Whether the engine runs with the native kernels (``--native``): ``on`` requires them
    (ValueError with the reason when they cannot be used), ``auto`` takes them where they
    build (float32 on the CPU)."""
    if cfg.native == "off":
        return False
    usable = cfg.dtype == "float32" and torch.device(cfg.device).type == "cpu"
    why = None if usable else "the native kernels are float32 on the CPU only"
    if usable:
        from . import native
        try:
            native.load()
        except native.NativeUnavailable as exc:
            why = str(exc)
    if why is not None and cfg.native == "on":
        raise ValueError(f"--native on: {why}")
    return why is None


def _main_point(cfg: BenchConfig) -> dict:
    other = "float64" if cfg.dtype == "float32" else "float32"
    nat = native_choice(cfg)
    eng = _Engine(cfg, cfg.M, cfg.R, cfg.dtype, cfg.kT, native=nat)
    if nat and not eng.native:          # built, but they do not apply to this step
        if cfg.native == "on":
            raise ValueError(f"--native on: {eng.native_reason}")
        nat = False
    P = eng.system.P
    named = {"engine": eng}
    if nat:
        named["engine_eager"] = _Engine(cfg, cfg.M, cfg.R, cfg.dtype, cfg.kT)
    if cfg.variants:
        named["engine_kT0"] = _Engine(cfg, cfg.M, cfg.R, cfg.dtype, 0.0, native=nat)
        named[f"engine_{other}"] = _Engine(cfg, cfg.M, cfg.R, other, cfg.kT, native=nat)
    if cfg.baseline:
        named["baseline"] = _Baseline(cfg, cfg.M, cfg.R, cfg.dtype)
    lim = _Limit(cfg, cfg.M, cfg.R, cfg.dtype, P)
    prods = lim.products()
    for k, f in prods.items():
        named["limit " + k] = _loop(f)
    named["limit gaussians"] = _loop(lim.gaussians)
    t = _measure(named, cfg)
    gemm_fwd = min(t["limit " + k] for k in prods if k.startswith("fwd"))
    gemm_bwd = min(t["limit " + k] for k in prods if k.startswith("bwd"))
    gemm = gemm_fwd + gemm_bwd
    gauss = t["limit gaussians"]
    limit = gemm + (gauss if cfg.kT > 0 else 0.0)
    R = cfg.R
    rows = []

    def row(name, label, sec, lim_s):
        r = dict(name=name, label=label, ms_per_step=sec * 1e3,
                 replica_steps_per_s=R / sec)
        if lim_s is not None:
            r["fraction_of_limit"] = lim_s / sec
        if "baseline" in t:
            r["speedup_vs_baseline"] = t["baseline"] / sec
        rows.append(r)

    kern = ", native" if nat else ""
    row("engine", f"engine {cfg.dtype}, kT={cfg.kT:g}{kern}", t["engine"], limit)
    if nat:
        row("engine_eager", f"engine {cfg.dtype}, kT={cfg.kT:g}, eager", t["engine_eager"],
            limit)
    if cfg.variants:
        row("engine_kT0", f"engine {cfg.dtype}, kT=0 (no noise){kern}", t["engine_kT0"], gemm)
        row(f"engine_{other}", f"engine {other}, kT={cfg.kT:g}", t[f"engine_{other}"], None)
    if cfg.baseline:
        row("baseline", f"baseline {cfg.dtype} (autograd, per-layer tensors)", t["baseline"],
            limit)
    res = dict(P=P, particles=R * P, rows=rows, native=nat,
               limit=dict(gemm_forward_ms=gemm_fwd * 1e3, gemm_backward_ms=gemm_bwd * 1e3,
                          gemm_ms=gemm * 1e3, gaussians_ms=gauss * 1e3, total_ms=limit * 1e3,
                          products={k: t["limit " + k] * 1e3 for k in prods}),
               engine_ms=t["engine"] * 1e3,
               fraction_of_limit=limit / t["engine"])
    if cfg.baseline:
        res["baseline_ms"] = t["baseline"] * 1e3
        res["speedup_vs_baseline"] = t["baseline"] / t["engine"]
    return res


def _linearity(points: Sequence[tuple]) -> dict:
    """Fit t = a + b x (x = R M) and report how far the points are from proportionality
    (cost per unit relative to the largest size) and from the affine fit."""
    xs = [float(x) for x, _ in points]
    ts = [float(t) for _, t in points]
    n = len(xs)
    if n < 2:
        return {}
    mx, mt = sum(xs) / n, sum(ts) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (t - mt) for x, t in zip(xs, ts)) / sxx if sxx else 0.0
    a = mt - b * mx
    unit_ref = ts[-1] / xs[-1]
    per_unit = [t / x / unit_ref for x, t in zip(xs, ts)]
    fit_dev = max(abs(t - (a + b * x)) / t for x, t in zip(xs, ts))
    return dict(overhead_ms=a * 1e3, per_unit_us=b * 1e6, per_unit_relative=per_unit,
                max_fit_deviation=fit_dev)


def _scaling(cfg: BenchConfig) -> dict:
    out = {}
    for axis, values in (("R", cfg.scaling_R), ("M", cfg.scaling_M)):
        pts = []
        for val in values:
            R = val if axis == "R" else cfg.R
            M = val if axis == "M" else cfg.M
            eng = _Engine(cfg, M, R, cfg.dtype, cfg.kT, native=native_choice(cfg))
            steps = max(2, min(cfg.steps, int(2e7 // max(1, R * eng.system.P)) + 1))
            named = {"engine": eng}
            lim = _Limit(cfg, M, R, cfg.dtype, eng.system.P)   # the limit at this size too
            prods = lim.products()
            for k, f in prods.items():
                named["limit " + k] = _loop(f)
            if cfg.kT > 0:
                named["limit gaussians"] = _loop(lim.gaussians)
            t = _measure(named, cfg, steps=steps)
            sec = t["engine"]
            limit = (min(t["limit " + k] for k in prods if k.startswith("fwd"))
                     + min(t["limit " + k] for k in prods if k.startswith("bwd"))
                     + t.get("limit gaussians", 0.0))
            pts.append(dict(R=R, M=M, ms_per_step=sec * 1e3, replica_steps_per_s=R / sec,
                            us_per_replica_example=sec / (R * M) * 1e6,
                            limit_ms=limit * 1e3, fraction_of_limit=limit / sec))
            del eng, lim
        lin = _linearity([(p["R"] * p["M"], p["ms_per_step"] * 1e-3) for p in pts])
        for p, rel in zip(pts, lin.get("per_unit_relative", [])):
            p["per_unit_relative"] = rel
        out[axis] = dict(points=pts, fit={k: v for k, v in lin.items()
                                          if k != "per_unit_relative"})
    return out


def run(cfg: BenchConfig) -> dict:
    """Run the benchmark; returns the results as a JSON-serialisable dict."""
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {cfg.device}: CUDA is not available here")
    from ._version import __version__
    from .random import draw_threads
    res = dict(config=cfg.as_dict(), mdlearn=__version__, torch=torch.__version__,
               threads=torch.get_num_threads(), noise_threads=draw_threads(),
               device_name=(torch.cuda.get_device_name(dev) if dev.type == "cuda"
                            else "cpu"))
    res.update(_main_point(cfg))
    if cfg.scaling:
        res["scaling"] = _scaling(cfg)
    return res


# --------------------------------------------------------------------------- output
def format_results(res: dict) -> str:
    c = res["config"]
    lines = [f"mdlearn bench: M={c['M']} N={c['N']} L={c['L']} N0={c['N0']} R={c['R']} "
             f"{c['dtype']} on {res['device_name']} ({res['threads']} threads; noise "
             f"{res['noise_threads']} threads), P={res['P']:,} particles per configuration, "
             f"{c['scheme']} scheme{', compiled' if c['compile'] else ''}"
             f"{', native kernels' if res.get('native') else ''}",
             f"  (best of {c['repeat']} blocks of {c['steps']} steps)", ""]
    head = f"  {'':48s} {'ms/step':>9s} {'replica-steps/s':>16s} {'vs baseline':>12s} " \
           f"{'of limit':>9s}"
    lines.append(head)
    for r in res["rows"]:
        sp = f"{r['speedup_vs_baseline']:.2f}x" if "speedup_vs_baseline" in r else ""
        fr = f"{100 * r['fraction_of_limit']:.0f}%" if "fraction_of_limit" in r else ""
        lines.append(f"  {r['label']:48s} {r['ms_per_step']:9.2f} "
                     f"{r['replica_steps_per_s']:16.1f} {sp:>12s} {fr:>9s}")
    lm = res["limit"]
    lines += ["",
              f"  limit: first-layer products {lm['gemm_ms']:.2f} ms (forward "
              f"{lm['gemm_forward_ms']:.2f} + backward {lm['gemm_backward_ms']:.2f}) + "
              f"{res['particles']:,} Gaussians {lm['gaussians_ms']:.2f} ms = "
              f"{lm['total_ms']:.2f} ms",
              f"  engine: {res['engine_ms']:.2f} ms/step = {100 * res['fraction_of_limit']:.0f}% "
              f"of the limit" + (f", {res['speedup_vs_baseline']:.2f}x the autograd baseline "
                                 f"({res['baseline_ms']:.2f} ms/step)"
                                 if "speedup_vs_baseline" in res else "")]
    if "scaling" in res:
        for axis in ("R", "M"):
            sc = res["scaling"][axis]
            fixed = f"M={c['M']}" if axis == "R" else f"R={c['R']}"
            lines += ["", f"  scaling over {axis} ({fixed}, {c['dtype']}, kT={c['kT']:g}):",
                      f"  {axis:>6s} {'ms/step':>9s} {'replica-steps/s':>16s} "
                      f"{'us/(replica*example)':>21s} {'rel. to largest':>16s} "
                      f"{'limit ms':>9s} {'of limit':>9s}"]
            for p in sc["points"]:
                rel = p.get("per_unit_relative")
                lines.append(f"  {p[axis]:6d} {p['ms_per_step']:9.2f} "
                             f"{p['replica_steps_per_s']:16.1f} "
                             f"{p['us_per_replica_example']:21.4f} "
                             f"{'' if rel is None else f'{rel:.2f}':>16s} "
                             f"{p['limit_ms']:9.2f} {100 * p['fraction_of_limit']:8.0f}%")
            fit = sc["fit"]
            if fit:
                lines.append(f"  fit t = {fit['overhead_ms']:.2f} ms + "
                             f"{fit['per_unit_us'] * 1e3:.3f} ns x R x M; largest deviation "
                             f"from the fit {100 * fit['max_fit_deviation']:.0f}%")
    return "\n".join(lines)


def run_from_args(args) -> int:
    """Entry point for an argparse namespace made with ``add_arguments``."""
    try:
        cfg = BenchConfig.from_args(args)
        res = run(cfg)
    except ValueError as exc:
        print(f"mdlearn bench: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(format_results(res))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``mdlearn bench [options]``; returns the exit status."""
    parser = add_arguments(argparse.ArgumentParser(
        prog="mdlearn bench", description="Replica-steps per second of the MD step, the "
        "autograd baseline and the machine's limit (docs/performance.md)."))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
