"""The Simulation: owns the System, force field, integrator, step counter, seed and the
scheduled operations (fixes, computes, dumps), and runs them in a fixed order.

One step:
    fixes.pre_force -> forces -> integrator -> fixes.post_integrate (walls) -> step += 1
then, at the steps where their triggers fire (in this order):
    event fixes (e.g. SpawnReplicas) -> compute updates (e.g. store t_w references) -> dumps

``run(n)`` advances in chunks between events; nothing inside a chunk synchronises the device.
When the only per-step fixes are reflective walls, a chunk runs through
``integrate.fused_step`` (the noise drawn while the forces are computed, the hidden spins kept
in the force field's layout over the chunk): the same numbers as the plain loop, bit for bit.
Operations at the starting step run at the start of ``run`` if they are due and have not run
for that step yet (so step 0 output happens when a trigger includes step 0).
"""
from __future__ import annotations

import math
import sys
from typing import Dict, List, Optional

import torch

from .compute import Compute
from .dump import Dump
from .errors import MDLearnError, check_positive_int
from .fix import Fix, ReflectiveWall
from .forcefield import ForceField
from .integrate import Integrator, fused_step
from .random import STREAM_NOISE, STREAM_SPAWN, KeyedStreams
from .system import System

__all__ = ["Simulation"]


class _OpList(list):
    """A list of operations that checks what is added to it."""

    def __init__(self, kind, cls):
        super().__init__()
        self.kind, self.cls = kind, cls

    def _check(self, item):
        if not isinstance(item, self.cls):
            raise MDLearnError(f"sim.{self.kind} takes {self.cls.__name__} objects, got "
                               f"{type(item).__name__}")
        return item

    def append(self, item):
        super().append(self._check(item))

    def extend(self, items):
        super().extend([self._check(i) for i in items])

    def __iadd__(self, items):
        self.extend(items)
        return self

    def insert(self, i, item):
        super().insert(i, self._check(item))


def _check_compile(compile, name: str = "compile") -> bool:
    if not isinstance(compile, bool):
        raise MDLearnError(f"{name} must be True or False, got {compile!r}")
    return compile


class Simulation:
    """Run TDLM molecular dynamics.

    Parameters
    ----------
    system : System
    forcefield : ForceField or None (None: no forces, free particles between the walls)
    integrator : Integrator
    seed : int; the noise of configuration (sample s, replica a) after the e-th replica spawn
        comes from its own stream keyed by (seed, s, a, e), so it does not depend on how many
        configurations run beside it.
    progress : None (a progress bar when stderr is a terminal), True or False.
    compile : bool (default False). Run the fused chunks (those whose only per-step fixes are
        reflective walls) with torch.compile'd kernels: the TDLM hidden layers' elementwise
        work and the integrator update with the walls, one pass each (see
        docs/performance.md). The first chunk compiles (~30-60 s on 2 CPU cores, cached on disk
        by torch); results agree with the eager step to rounding, not bit for bit. Where
        compiling fails, the eager step runs with a warning.
    native : bool (default False). Run the fused chunks with mdlearn's native CPU kernels
        (``mdlearn.native``; float32, TDLM with PaperLangevin or NVE and one ReflectiveWall):
        the noise on torch's threads, the hidden layers' elementwise work and the update with
        the wall in one pass each, ~1.3x faster than the eager step at the paper's sizes (docs/
        performance.md). Built the first time (~40 s, needs a C++ compiler; cached); results
        agree with the eager step to rounding (the same noise), not bit for bit, so continue
        a run with the setting it started with. Where they cannot be used, the eager step
        runs with a warning saying why.

    >>> import mdlearn as md
    >>> data = md.datasets.random_scenario(n_train=4, n_test=4, n_in=6)
    >>> system = md.System.create(md.Network(6, 3, 3, 2), data, samples=2, seed=0)
    >>> sim = md.Simulation(system, md.forcefield.TDLM(), md.integrate.PaperLangevin(kT=1e-5), seed=0)
    >>> sim.fixes.append(md.fix.ReflectiveWall())
    >>> sim.run(10, progress=False)
    >>> sim.step, float(sim.system.x.abs().max()) <= 1.0
    (10, True)
    """

    def __init__(self, system: System, forcefield: Optional[ForceField] = None,
                 integrator: Optional[Integrator] = None, seed: int = 0,
                 progress: Optional[bool] = None, log=None, shard: bool = True,
                 compile: bool = False, native: bool = False):
        if not isinstance(system, System):
            raise MDLearnError(f"system must be an md.System, got {type(system).__name__}")
        if forcefield is not None and not isinstance(forcefield, ForceField):
            raise MDLearnError(f"forcefield must be an md.forcefield.ForceField or None, got "
                               f"{type(forcefield).__name__}")
        if integrator is None:
            from .integrate import PaperLangevin
            integrator = PaperLangevin()
        if not isinstance(integrator, Integrator):
            raise MDLearnError(f"integrator must be an md.integrate.Integrator, got "
                               f"{type(integrator).__name__}")
        self.system = system
        self.forcefield = forcefield
        self.integrator = integrator
        self.seed = check_positive_int("seed", seed, allow_zero=True)
        self.progress = progress
        self.compile = _check_compile(compile)
        self.native = _check_compile(native, "native")
        self.step = 0
        self.fixes: List[Fix] = _OpList("fixes", Fix)
        self.computes: List[Compute] = _OpList("computes", Compute)
        self.dumps: List[Dump] = _OpList("dumps", Dump)
        self.checkpoints = []  # (trigger, path) pairs, see checkpoint.py
        self._evaluated_step = -1
        self._values: Dict[int, tuple] = {}   # id(compute) -> (compute, values)
        self._values_step = -1
        self._bar = None
        self._log = log
        self._resume_step = None
        self._run_target = 0
        self.deck_config: dict = {}
        # distributed runs: this rank holds global configuration rows
        # [row_offset, row_offset + system.R) of n_global
        from . import parallel
        self.ctx = parallel.context()
        self.row_offset = 0
        self.n_global = system.R
        if self.ctx.active and shard:
            self._shard()
        self._make_streams()

    def _shard(self):
        """Keep this rank's contiguous block of whole samples."""
        from . import parallel
        s = self.system
        ids = s.sample.tolist()
        samples = sorted(set(ids))
        first, stop = parallel.split_samples(len(samples), self.ctx.world)[self.ctx.rank]
        mine = set(samples[first:stop])
        rows = [i for i, v in enumerate(ids) if v in mine]
        if rows != list(range(rows[0], rows[-1] + 1)):
            raise MDLearnError("configurations of one sample must be contiguous to be sharded")
        device = s.device
        if device.type == "cuda":
            device = torch.device("cuda", self.ctx.local_rank % max(1, torch.cuda.device_count()))
        self.row_offset, self.n_global = rows[0], s.R
        s.take_rows(rows[0], rows[-1] + 1, device=device)

    # ------------------------------------------------------------------ basics
    @property
    def dt(self) -> float:
        return self.integrator.dt

    @property
    def time(self) -> float:
        """Simulated time, step * dt (computed from the integer step)."""
        return self.step * self.integrator.dt

    def _make_streams(self):
        s = self.system
        self.streams = KeyedStreams(self.seed, STREAM_NOISE, s.sample.tolist(),
                                    s.replica.tolist(), s.epoch, s.device)

    def log(self, line: str):
        """Print a line (through the progress bar when one is shown); rank 0 only."""
        if not self.ctx.is_root:
            return
        if self._log is not None:
            self._log(line)
        elif self._bar is not None:
            self._bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    # ------------------------------------------------------------------ replicas
    def replicate(self, n: int, kT: Optional[float] = None):
        """Copy every configuration n times (same positions), draw fresh Maxwell-Boltzmann
        velocities at kT (default: the integrator's) and give every new configuration its own
        noise stream. Used by the SpawnReplicas fix."""
        s = self.system
        s.replicate(n)
        self.row_offset *= n
        self.n_global *= n
        kT = self.integrator.kT if kT is None else kT
        spawn = KeyedStreams(self.seed, STREAM_SPAWN, s.sample.tolist(), s.replica.tolist(),
                             s.epoch, s.device)
        if kT > 0:
            s.maxwell_boltzmann_(kT, spawn)
        else:
            s.v.zero_()
        self._make_streams()
        self._values = {}
        for op in list(self.fixes) + list(self.computes) + list(self.dumps):
            op.on_replicate(self, n)

    # ------------------------------------------------------------------ computes
    def evaluate(self, compute: Compute) -> dict:
        """Values of ``compute`` at the current step (cached until the step changes)."""
        if self._values_step != self.step:
            self._values = {}
            self._values_step = self.step
        key = id(compute)
        hit = self._values.get(key)
        if hit is None or hit[0] is not compute:   # the compute is kept: its id stays its own
            hit = self._values[key] = (compute, compute.compute(self))
        return hit[1]

    def gathered(self, compute: Compute) -> dict:
        """Like ``evaluate``, with per-configuration values gathered from all ranks (a
        collective: every rank must call it). Without distribution, the same as evaluate."""
        vals = self.evaluate(compute)
        if not self.ctx.active:
            return vals
        from . import parallel
        fields = compute.fields(self.system)
        out = {}
        for k, v in vals.items():
            dims = fields.get(k, ((), ()))[1]
            out[k] = parallel.all_gather_rows(v) if dims and dims[0] == "config" else v
        return out

    # ------------------------------------------------------------------ stepping
    def _one_step(self, pre, post):
        s = self.system
        for f in pre:
            f.pre_force(self)
        if self.forcefield is not None:
            self.forcefield.compute(s)
        else:
            s.f.zero_()
        self.integrator.step(s, self.streams)
        for f in post:
            f.post_integrate(self)

    def _advance(self, k: int):
        """k plain steps, no events, no host synchronisation."""
        # a fix takes part in every step when it overrides a per-step hook
        pre = [f for f in self.fixes if type(f).pre_force is not Fix.pre_force]
        post = [f for f in self.fixes if type(f).post_integrate is not Fix.post_integrate]
        if not pre and all(type(f).post_integrate is ReflectiveWall.post_integrate
                           for f in post):
            # forces -> integrator -> walls and nothing else: the fused step (the noise drawn
            # while the forces are computed; the same numbers as the loop below, bit for bit)
            try:
                fused_step(self.system, self.forcefield, self.integrator, tuple(post),
                           self.streams, n=k, compile=self.compile,
                           native=getattr(self, "native", False))
            finally:   # interrupted (Ctrl-C, an error): count the steps that were completed
                stepper = getattr(self.integrator, "_fast", None)
                self.step += stepper.steps_done if stepper is not None else 0
            return
        for _ in range(k):
            self._one_step(pre, post)
            self.step += 1

    def _scheduled(self):
        ops = []
        for f in self.fixes:
            if f.trigger is not None:
                ops.append(f.trigger)
        for c in self.computes:
            if c.trigger is not None:
                ops.append(c.trigger)
        for d in self.dumps:
            ops.append(d.trigger)
        for trig, _ in self.checkpoints:
            ops.append(trig)
        return ops

    def _next_event(self, limit: int) -> int:
        nxt = limit
        for t in self._scheduled():
            n = t.next(self.step)
            if n is not None and n < nxt:
                nxt = n
        return nxt

    def _events(self):
        step = self.step
        for f in self.fixes:
            if f.trigger is not None and f.trigger(step):
                f.apply(self)
        for c in self.computes:
            if c.trigger is not None and c.trigger(step):
                c.update(self)
        for d in self.dumps:
            if d.trigger(step):
                d.write(self)
        for trig, path in self.checkpoints:
            if trig(step):
                self._evaluated_step = step
                self.save_checkpoint(path)
        self._evaluated_step = step
        # positions gathered from all ranks for this step's computes (compute.all_configurations)
        self._gathered_configurations = None

    def _show_progress(self):
        if not self.ctx.is_root:
            return False
        if self.progress is not None:
            return bool(self.progress)
        try:
            return sys.stderr.isatty()
        except Exception:  # pragma: no cover
            return False

    def run(self, n: int, progress: Optional[bool] = None, check_schedule: bool = True):
        """Advance ``n`` steps, running scheduled operations when their triggers fire.

        With ``check_schedule`` (default) operations check that their schedule fits this run
        (e.g. a t_w after the end of the run is an error); pass False to run in pieces.
        """
        check_positive_int("n", n, allow_zero=True)
        show = self._show_progress() if progress is None else (bool(progress) and self.ctx.is_root)
        target = self.step + n
        self._run_target = target
        if check_schedule:
            for op in list(self.fixes) + list(self.computes):
                op.check(self, target)
        for d in self.dumps:
            d.start(self)
        if show:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=n, unit="step", dynamic_ncols=True, leave=True)
        try:
            if self._evaluated_step != self.step:
                self._events()
            # progress granularity: at most ~200 bar updates per run
            max_chunk = max(1, n // 200) if show else n
            while self.step < target:
                stop = min(self._next_event(target), self.step + max(1, max_chunk))
                k = stop - self.step
                self._advance(k)
                if self._bar is not None:
                    self._bar.update(k)
                if any(t(self.step) for t in self._scheduled()):
                    self._events()
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            for d in self.dumps:
                if hasattr(d, "flush"):
                    d.flush()

    def resume(self, progress: Optional[bool] = None):
        """Continue a run restored from a checkpoint up to the step its run was aiming at."""
        remaining = self._run_target - self.step
        if remaining > 0:
            self.run(remaining, progress=progress, check_schedule=False)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, path: str, trigger) -> None:
        """Write a checkpoint to ``path`` whenever ``trigger`` fires (after that step's
        dumps), atomically (write then rename)."""
        from .trigger import as_trigger
        self.checkpoints.append((as_trigger(trigger), str(path)))

    def save_checkpoint(self, path: str) -> str:
        """Write everything needed to continue exactly (see mdlearn.checkpoint)."""
        from . import checkpoint
        for d in self.dumps:
            if hasattr(d, "flush"):
                d.flush()
        return checkpoint.save(self, path)

    def load_checkpoint(self, path: str) -> "Simulation":
        """Restore a checkpoint into this simulation (built by the same deck)."""
        from . import checkpoint
        checkpoint.load_into(self, checkpoint.read(path))
        return self

    @classmethod
    def from_checkpoint(cls, path: str, device=None, progress: Optional[bool] = None,
                        compile: bool = False, native: bool = False) -> "Simulation":
        """Rebuild a Simulation from a checkpoint alone and restore its state; continue with
        ``sim.resume()`` (to the original end) or ``sim.run(n)``. ``device``, ``compile`` and
        ``native`` are chosen anew (they are not part of the physics; pass the ``native`` the
        run started with to continue it bit for bit)."""
        from . import checkpoint
        _check_compile(compile)
        _check_compile(native, "native")
        sim = checkpoint.build(checkpoint.read(path), device=device, progress=progress)
        sim.compile = compile
        sim.native = native
        return sim

    def close(self):
        for d in self.dumps:
            d.close()

    # ------------------------------------------------------------------ description
    def _describe_system(self) -> dict:
        """The system as a whole: on several ranks R counts every configuration of the run,
        not this rank's block (``ranks`` says over how many processes they are split)."""
        d = self.system.describe()
        if self.ctx.active:
            d["R"] = int(self.n_global)
            d["ranks"] = int(self.ctx.world)
        return d

    def config(self) -> dict:
        """JSON-serialisable description of the whole deck (stored with runs)."""
        from ._version import __version__
        return {
            "mdlearn_version": __version__,
            "seed": self.seed,
            "system": self._describe_system(),
            "forcefield": None if self.forcefield is None else self.forcefield.config(),
            "integrator": self.integrator.config(),
            "fixes": [f.config() for f in self.fixes],
            "computes": [c.config() for c in self.computes],
            "dumps": [d.config() for d in self.dumps],
            "deck": self.deck_config,
        }
