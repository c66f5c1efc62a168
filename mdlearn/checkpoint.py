"""Checkpoints: everything needed to continue a run exactly.

A checkpoint holds positions, velocities, the (sample, replica) index, the step, the run's
target step, every configuration's random-generator state, the state of every operation
(stored t_w references, spawned replicas, store positions) and the deck's configuration.
It is written with ``torch.save`` to ``path.tmp`` and renamed over ``path`` (atomic on POSIX)
and read with ``torch.load(weights_only=True)``: only tensors, numbers, strings, lists and
dicts are accepted, never arbitrary pickled objects.
"""
from __future__ import annotations

import json
import os
from typing import Optional

import torch

from ._version import __version__
from .errors import MDLearnError

FORMAT = "mdlearn-checkpoint/1"
MANIFEST = "mdlearn-checkpoint-manifest/1"


def _ops_state(ops):
    return [op.state_dict() for op in ops]


def save(sim, path: str) -> str:
    s = sim.system
    ck = {
        "format": FORMAT,
        "version": __version__,
        "step": int(sim.step),
        "evaluated_step": int(sim._evaluated_step),
        "run_target": int(sim._run_target),
        "seed": int(sim.seed),
        "system": {
            "x": s.x.detach().cpu().clone(), "v": s.v.detach().cpu().clone(),
            "sample": s.sample.clone(), "replica": s.replica.clone(), "epoch": int(s.epoch),
            "inputs": s.inputs.cpu().clone(), "targets": s.targets.cpu().clone(),
            "sizes": list(s.sizes), "mass": s.mass_per_particle.cpu().clone(),
            "dtype": str(s.dtype).replace("torch.", ""),
        },
        "streams": [t.cpu() for t in sim.streams.get_state()],
        "config": json.dumps(sim.config(), default=str),
        "fixes": _ops_state(sim.fixes),
        "computes": _ops_state(sim.computes),
        "dumps": _ops_state(sim.dumps),
        "checkpoints": [[json.dumps(t.config()), p] for t, p in sim.checkpoints],
        "extra": dict(getattr(sim, "checkpoint_extra", {}) or {}),
        "world": int(sim.ctx.world), "rank": int(sim.ctx.rank),
        "row_offset": int(sim.row_offset), "n_global": int(sim.n_global),
    }
    path = str(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    if not sim.ctx.active:
        _atomic_save(ck, path)
        return path
    # distributed: one file per rank and step, then a manifest naming the step; a run killed
    # half-way through keeps the previous manifest and the files it names
    from . import parallel
    mine = rank_file(path, sim.step, sim.ctx.rank)
    _atomic_save(ck, mine)
    parallel.barrier()
    if sim.ctx.is_root:
        _atomic_save({"format": MANIFEST, "world": sim.ctx.world, "step": int(sim.step)}, path)
    parallel.barrier()
    import glob
    for old in glob.glob(f"{glob.escape(path)}.step*.rank{sim.ctx.rank}"):
        if old != mine:
            os.remove(old)
    return path


def rank_file(path, step, rank):
    return f"{path}.step{int(step)}.rank{int(rank)}"


def _atomic_save(obj, path):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read(path: str) -> dict:
    path = str(path)
    if not os.path.exists(path):
        raise MDLearnError(f"checkpoint {path!r} does not exist")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0][:200]
        raise MDLearnError(f"checkpoint {path!r} is corrupted or not an mdlearn checkpoint "
                           f"({type(exc).__name__}: {first})") from None
    if isinstance(ck, dict) and ck.get("format") == MANIFEST:
        from .parallel import context
        ctx = context()
        if ctx.world != ck["world"]:
            raise MDLearnError(f"checkpoint {path!r} was written by {ck['world']} processes; "
                               f"restart with the same number (--nproc {ck['world']}), not "
                               f"{ctx.world}")
        return read(rank_file(path, ck["step"], ctx.rank))
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise MDLearnError(f"checkpoint {path!r} is not an mdlearn checkpoint "
                           f"(format {ck.get('format') if isinstance(ck, dict) else None!r})")
    from .parallel import context
    world = context().world
    if ck.get("world", 1) != world:
        raise MDLearnError(f"checkpoint {path!r} was written by {ck.get('world', 1)} process(es); "
                           f"restart with the same number, not {world}")
    return ck


def load_into(sim, ck: dict, device=None):
    """Restore a checkpoint's state into a Simulation built with the same operations."""
    s = sim.system
    st = ck["system"]
    if list(st["sizes"]) != list(s.sizes) or st["inputs"].shape[0] != s.M:
        raise MDLearnError(f"checkpoint network sizes {st['sizes']} (M = {st['inputs'].shape[0]}) "
                           f"do not match this system's {list(s.sizes)} (M = {s.M})")
    for kind, ops in (("fixes", sim.fixes), ("computes", sim.computes), ("dumps", sim.dumps)):
        if len(ck[kind]) != len(ops):
            raise MDLearnError(f"checkpoint has {len(ck[kind])} {kind}, this simulation has "
                               f"{len(ops)}: build the same deck before loading")
    s.restore(st)
    sim.step = int(ck["step"])
    sim._evaluated_step = int(ck["evaluated_step"])
    sim._run_target = int(ck["run_target"])
    sim._resume_step = sim.step
    sim.row_offset = int(ck.get("row_offset", 0))
    sim.n_global = int(ck.get("n_global", s.R))
    sim._make_streams()
    sim.streams.set_state(ck["streams"])
    for kind, ops in (("fixes", sim.fixes), ("computes", sim.computes), ("dumps", sim.dumps)):
        for op, state in zip(ops, ck[kind]):
            if "device" in op.load_state_dict.__code__.co_varnames:
                op.load_state_dict(state, device=s.device)
            else:
                op.load_state_dict(state)
    sim._values = {}
    sim._values_step = -1


# ---------------------------------------------------------------------------- rebuilding
def _trigger(cfg):
    from .trigger import from_config
    return from_config(cfg)


def _forcefield(cfg):
    from . import forcefield as ffm
    if cfg is None:
        return None
    cls = cfg.get("class")
    if cls == "TDLM":
        return ffm.TDLM(normalize=cfg["normalize"], energy=cfg["energy"])
    if cls == "Harmonic":
        return ffm.Harmonic(k=cfg["k"])
    raise MDLearnError(f"cannot rebuild force field {cls!r} from a checkpoint: build the deck "
                       "and call sim.load_checkpoint(path)")


def _integrator(cfg):
    from . import integrate as im
    cls = cfg.get("class")
    args = {k: v for k, v in cfg.items() if k != "class"}
    table = {"PaperLangevin": im.PaperLangevin, "Langevin": im.Langevin, "NVE": im.NVE}
    if cls not in table:
        raise MDLearnError(f"cannot rebuild integrator {cls!r} from a checkpoint")
    return table[cls](**args)


def _fix(cfg):
    from . import fix as fm
    cls = cfg.get("class")
    if cls == "ReflectiveWall":
        return fm.ReflectiveWall(low=cfg["low"], high=cfg["high"])
    if cls == "SpawnReplicas":
        return fm.SpawnReplicas(n=cfg["n"], t_w=cfg["t_w"], kT=cfg["kT"])
    raise MDLearnError(f"cannot rebuild fix {cls!r} from a checkpoint: build the deck and call "
                       "sim.load_checkpoint(path)")


def _compute(cfg, state):
    from . import compute as cm
    cls = cfg.get("class")
    if cls == "LayerEnergies":
        return cm.LayerEnergies(per_layer_thermo=cfg.get("per_layer_thermo", False))
    if cls == "Temperature":
        return cm.Temperature()
    if cls == "MeanAbsSpin":
        return cm.MeanAbsSpin()
    if cls == "TestAccuracy":
        return cm.TestAccuracy((state["inputs"], state["targets"]), rule=cfg["rule"],
                               activation=cfg["activation"], name=cfg.get("name"),
                               header=cfg.get("header"))
    if cls == "AutoCorrelation":
        return cm.AutoCorrelation(t_w=cfg["t_w"])
    if cls == "ReplicaOverlap":
        return cm.ReplicaOverlap(matrix=cfg["matrix"])
    if cls == "TestOverlap":
        return cm.TestOverlap((state["inputs"], state["targets"]), activation=cfg["activation"],
                              matrix=cfg["matrix"])
    raise MDLearnError(f"cannot rebuild compute {cls!r} from a checkpoint: build the deck and "
                       "call sim.load_checkpoint(path)")


def _dump(cfg):
    from .dump import Thermo
    from .io import Zarr
    cls = cfg.get("class")
    if cls == "Thermo":
        return Thermo(_trigger(cfg["trigger"]), file=cfg["file"], per_layer=cfg["per_layer"])
    if cls == "Zarr":
        return Zarr(cfg["path"], _trigger(cfg["trigger"]), spins=cfg["spins"],
                    weights=cfg["weights"], velocities=cfg["velocities"], until=cfg["until"],
                    chunk_configs=cfg["chunk_configs"])
    raise MDLearnError(f"cannot rebuild dump {cls!r} from a checkpoint: build the deck and call "
                       "sim.load_checkpoint(path)")


def build(ck: dict, device=None, progress=None):
    """A new Simulation from a checkpoint alone (all built-in operations)."""
    from .simulation import Simulation
    from .system import System
    cfg = json.loads(ck["config"])
    st = ck["system"]
    dtype = getattr(torch, st["dtype"])
    dev = torch.device(device) if device is not None else torch.device("cpu")
    system = System(st["inputs"].to(dev, dtype), st["targets"].to(dev, dtype), st["sizes"],
                    st["x"].to(dev, dtype), st["v"].to(dev, dtype), mass=st["mass"].to(dev, dtype),
                    sample=st["sample"], replica=st["replica"], epoch=st["epoch"])
    sim = Simulation(system, _forcefield(cfg["forcefield"]), _integrator(cfg["integrator"]),
                     seed=int(ck["seed"]), progress=progress, shard=False)
    sim.deck_config = cfg.get("deck", {})
    for f in cfg["fixes"]:
        sim.fixes.append(_fix(f))
    for c, state in zip(cfg["computes"], ck["computes"]):
        sim.computes.append(_compute(c, state))
    for d in cfg["dumps"]:
        sim.dumps.append(_dump(d))
    for tcfg, p in ck.get("checkpoints", []):
        sim.checkpoints.append((_trigger(json.loads(tcfg)), p))
    load_into(sim, ck)
    return sim
