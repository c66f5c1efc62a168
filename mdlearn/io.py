"""Trajectory storage: zarr v3 stores laid out like H5MD, and a reader.

Layout (docs/storage.md)::

    run.zarr/
      (root attrs)  mdlearn: {format, version}, schedule info
      h5md/                       attrs: version [1, 1], creator {name, version}
      parameters/                 attrs: config (the deck as JSON), seed, mdlearn_version
      particles/spins/            step (step,), time (step,), sample (config,), replica (config,),
                                  value (step, config, spin_layer, example, unit)
      particles/weights/layer_k/  step, time, sample, replica, value (step, config, N_k, N_{k-1})
      observables/<name>/         step, time, [sample, replica,] value (step, ...)

Every array has ``dimension_names``; ``value`` arrays name ``time`` (and ``sample``,
``replica``) as coordinates, so ``xarray.open_zarr(path, group=...)`` gives step and time as
coordinates. Frames are pre-allocated from the trigger's schedule (never resized while
running); a frame whose ``step`` is still -1 has not been written. Configuration rows are the
final configurations (N_s x N_r after all replica spawns); before a spawn every replica row
holds its sample's state (replicas share their sample's history up to t_w).
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Dict, List, Optional

import numpy as np
import torch

from ._version import __version__
from .dump import Dump
from .errors import MDLearnError
from .trigger import Trigger, as_trigger

__all__ = ["Zarr", "open_run", "Run"]

FORMAT = "mdlearn-h5md-zarr/1"


def _zarr():
    import zarr
    return zarr


def _final_factor(sim) -> int:
    from .fix import SpawnReplicas
    f = 1
    for fx in sim.fixes:
        if isinstance(fx, SpawnReplicas) and not fx.done:
            f *= fx.n
    return f


class Zarr(Dump):
    """Write frames of positions and observables to a zarr v3 store laid out like H5MD.

    Parameters
    ----------
    path : store directory.
    trigger : when to write frames (LogSpaced is the common case). The frames are
        pre-allocated from the trigger's steps up to the end of the run (or ``until``).
    spins : "full" (default, working precision), "sign" (int8 signs) or None (not stored).
    weights : store the weights (default True).
    velocities : also store velocities (default False).
    observables : the computes whose values are stored (default: all of ``sim.computes``).
    overwrite : replace an existing store at ``path`` (default False: refuse).
    chunk_configs : configurations per chunk along the config axis (default: all).
    buffer_frames, buffer_mb : frames are buffered in memory and written in blocks when either
        limit is reached, at the end of every ``run`` and before every checkpoint (a run killed
        between two checkpoints loses nothing: the resumed run rewrites those frames).

    >>> from mdlearn.trigger import LogSpaced
    >>> Zarr("run.zarr", LogSpaced(1, 1000, per_decade=10), spins="sign").spins
    'sign'
    """

    def __init__(self, path: str, trigger, spins: Optional[str] = "full", weights: bool = True,
                 velocities: bool = False, observables=None, overwrite: bool = False,
                 until: Optional[int] = None, chunk_configs: Optional[int] = None,
                 buffer_frames: int = 64, buffer_mb: float = 64.0):
        self.path = str(path)
        self.trigger = as_trigger(trigger)
        if spins not in ("full", "sign", None):
            raise MDLearnError(f"spins must be 'full', 'sign' or None, got spins={spins!r}")
        self.spins = spins
        self.weights = bool(weights)
        self.velocities = bool(velocities)
        self.observables = observables
        self.overwrite = bool(overwrite)
        self.until = until
        self.chunk_configs = chunk_configs
        self.resume = False
        self._root = None
        self._schedule: List[int] = []
        self._index: Dict[int, int] = {}
        self._arrays = {}
        self._R_final = None
        # distributed writing: this process writes rows [row0, row0 + rows) of the final
        # configurations; only the writer of metadata (rank 0) creates arrays
        self.row0 = 0
        self.is_root = True
        self.buffer_frames = int(buffer_frames)
        self.buffer_bytes = int(buffer_mb * 2**20)
        self._pending = {}
        self._pending_bytes = 0
        self._frames = []
        self._frame_bytes = None

    # ------------------------------------------------------------------ creation
    def _computes(self, sim):
        if self.observables is None:
            return list(sim.computes)
        return list(self.observables)

    def start(self, sim):
        end = sim._run_target if self.until is None else max(self.until, sim._run_target)
        schedule = self.trigger.steps(0, end)
        if self._root is not None:
            if schedule[len(self._schedule):] and schedule[:len(self._schedule)] == self._schedule \
                    and len(schedule) > len(self._schedule):
                self._extend(sim, schedule)
            return
        exists = bool(os.path.exists(self.path)
                      and (not os.path.isdir(self.path) or os.listdir(self.path)))
        if sim.ctx.active:   # every rank looks before rank 0 creates anything
            from . import parallel
            parallel.barrier()
        if exists and self.resume:
            self._open_existing(sim, schedule)
            return
        if exists and not self.overwrite:
            raise MDLearnError(f"store {self.path!r} already exists; pass overwrite=True to "
                               "replace it, or resume the run from its checkpoint")
        if exists and self.overwrite and self.is_root:
            _remove_store(self.path)
        self._create(sim, schedule)

    def _layout(self, sim):
        """{group: {array: (shape, dims, dtype, fill)}} for one frame (without the step axis)."""
        s = sim.system
        fac = _final_factor(sim)
        Rf = sim.n_global * fac
        self._R_final = Rf
        groups = {}
        if self.spins is not None and s.L > 1:
            dt = "int8" if self.spins == "sign" else str(s.dtype).replace("torch.", "")
            groups["particles/spins"] = {"value": ((Rf, s.L - 1, s.M, s.sizes[1]),
                                                   ("config", "spin_layer", "example", "unit"), dt)}
            if self.velocities:
                groups["particles/spins"]["velocity"] = groups["particles/spins"]["value"][:2] + (
                    str(s.dtype).replace("torch.", ""),)
        if self.weights:
            for l in range(1, s.L + 1):
                shp = (Rf, s.sizes[l], s.sizes[l - 1])
                dims = ("config", "out_unit", "in_unit")
                g = {"value": (shp, dims, str(s.dtype).replace("torch.", ""))}
                if self.velocities:
                    g["velocity"] = g["value"]
                groups[f"particles/weights/layer_{l}"] = g
        for c in self._computes(sim):
            for name, (shape, dims) in c.fields(s).items():
                shape = tuple(Rf if d in ("config", "config_a", "config_b") else n
                              for n, d in zip(shape, dims))
                groups[f"observables/{name}"] = {"value": (shape, tuple(dims), "float64")}
        return groups

    def _sync_ranks(self, sim):
        from . import parallel
        self.is_root = sim.ctx.is_root
        self.row0 = sim.row_offset * _final_factor(sim)
        if sim.ctx.active and self.chunk_configs is None:
            # chunk boundaries follow the split: one writer per chunk
            sizes = parallel.all_gather_rows(
                torch.tensor([sim.system.R * _final_factor(sim)], device=sim.system.device))
            self.chunk_configs = int(np.gcd.reduce(sizes.cpu().numpy()))

    def _create(self, sim, schedule):
        zarr = _zarr()
        from . import parallel
        self._sync_ranks(sim)
        sample, replica = self._final_index(sim)
        self._schedule = list(schedule)
        self._index = {st: k for k, st in enumerate(self._schedule)}
        F = max(1, len(self._schedule))
        layout = self._layout(sim)
        if self.is_root:
            root = zarr.open_group(self.path, mode="w")
            root.attrs.update({"mdlearn": {"format": FORMAT, "version": __version__}})
            h = root.require_group("h5md")
            h.attrs.update({"version": [1, 1], "creator": {"name": "mdlearn", "version": __version__}})
            p = root.require_group("parameters")
            cfg = sim.config()
            p.attrs.update({"config": json.dumps(cfg, default=str), "seed": sim.seed,
                            "mdlearn_version": __version__, "ranks": sim.ctx.world})
            for gname, arrays in layout.items():
                g = root.require_group(gname)
                g.create_array("step", shape=(F,), dtype="int64", chunks=(F,), fill_value=-1,
                               dimension_names=("step",))
                g.create_array("time", shape=(F,), dtype="float64", chunks=(F,),
                               fill_value=float("nan"), dimension_names=("step",))
                coords = ["time"]
                has_config = any(d in ("config", "config_a", "config_b")
                                 for _s, dims, _d in arrays.values() for d in dims)
                if has_config:
                    a = g.create_array("sample", shape=(self._R_final,), dtype="int64",
                                       chunks=(self._R_final,), fill_value=-1,
                                       dimension_names=("config",))
                    a[:] = sample
                    b = g.create_array("replica", shape=(self._R_final,), dtype="int64",
                                       chunks=(self._R_final,), fill_value=-1,
                                       dimension_names=("config",))
                    b[:] = replica
                    coords += ["sample", "replica"]
                for aname, (shape, dims, dtype) in arrays.items():
                    chunks = (1,) + tuple(
                        (self.chunk_configs or n) if d == "config" else n
                        for n, d in zip(shape, dims))
                    chunks = tuple(max(1, c) for c in chunks)
                    fill = 0 if dtype == "int8" else float("nan")
                    arr = g.create_array(aname, shape=(F,) + shape, dtype=dtype, chunks=chunks,
                                         fill_value=fill, dimension_names=("step",) + dims)
                    arr.attrs["coordinates"] = " ".join(coords)
            for c in self._computes(sim):
                coords = c.coords(sim.system) if hasattr(c, "coords") else {}
                for name in c.fields(sim.system):
                    g = root[f"observables/{name}"]
                    for dim, vals in coords.items():
                        dims = g["value"].metadata.dimension_names
                        if dim in dims:
                            arr = g.create_array(dim, shape=(len(vals),), dtype="int64",
                                                 chunks=(len(vals),), dimension_names=(dim,))
                            arr[:] = np.asarray(vals)
            root.require_group("observables").attrs.update(
                {"computes": json.dumps([c.config() for c in self._computes(sim)], default=str)})
        parallel.barrier()
        self._open(layout)

    def _final_index(self, sim):
        from .parallel import all_gather_rows
        s = sim.system
        fac = _final_factor(sim)
        sample = s.sample.repeat_interleave(fac)
        replica = s.replica.repeat_interleave(fac) * fac + torch.arange(fac).repeat(s.R)
        if sim.ctx.active:   # collective: the global index from every rank's block
            sample = all_gather_rows(sample.to(s.device)).cpu()
            replica = all_gather_rows(replica.to(s.device)).cpu()
        return sample.numpy(), replica.numpy()

    def _open(self, layout):
        zarr = _zarr()
        self._root = zarr.open_group(self.path, mode="r+")
        self._arrays = {}
        for gname, arrays in layout.items():
            g = self._root[gname]
            self._arrays[gname] = {k: g[k] for k in list(arrays) + ["step", "time"]}

    def _open_existing(self, sim, schedule):
        zarr = _zarr()
        from . import parallel
        self._sync_ranks(sim)
        root = zarr.open_group(self.path, mode="r+")
        if root.attrs.get("mdlearn", {}).get("format") != FORMAT:
            raise MDLearnError(f"{self.path!r} is not an mdlearn store")
        ranks = root["parameters"].attrs.get("ranks", 1)
        if ranks != sim.ctx.world:
            raise MDLearnError(f"store {self.path!r} was written by {ranks} process(es); resume "
                               f"it with the same number, not {sim.ctx.world}")
        layout = self._layout(sim)
        self._schedule = list(schedule)
        self._index = {st: k for k, st in enumerate(self._schedule)}
        self._open(layout)
        F = len(self._schedule)
        for gname, arrs in self._arrays.items():
            if arrs["step"].shape[0] < F and self.is_root:
                # a resumed run that goes further than the first: grow between runs
                for arr in arrs.values():
                    arr.resize((F,) + arr.shape[1:])
        parallel.barrier()
        self._open(self._layout(sim))

    def _extend(self, sim, schedule):
        """Between runs only: grow the step axis for a longer schedule."""
        self._schedule = list(schedule)
        self._index = {st: k for k, st in enumerate(self._schedule)}
        from . import parallel
        F = len(schedule)
        if self.is_root:
            for gname, arrs in self._arrays.items():
                for a in arrs.values():
                    a.resize((F,) + a.shape[1:])
        parallel.barrier()
        self._open(self._layout(sim))

    # ------------------------------------------------------------------ writing
    def _rows(self, sim, t: torch.Tensor, axes) -> np.ndarray:
        """Expand current configurations to the final rows along the config axes."""
        fac = _final_factor(sim)
        arr = t.detach()
        if fac > 1:
            for ax in axes:
                arr = arr.repeat_interleave(fac, dim=ax)
        out = arr.cpu()
        if out.data_ptr() == t.data_ptr():   # a view of live state: buffer a copy
            out = out.clone()
        return out.numpy()

    def write(self, sim):
        if self._root is None:
            self.start(sim)
        k = self._index.get(sim.step)
        if k is None:
            return
        s = sim.system
        for gname, arrs in self._arrays.items():
            if gname == "particles/spins":
                if s.L < 2:
                    continue
                val = torch.stack(list(s.spins), dim=1)  # (R, L-1, M, N)
                if self.spins == "sign":
                    val = torch.where(val >= 0, 1, -1).to(torch.int8)
                self._put(gname, "value", k, self._rows(sim, val, [0]))
                if "velocity" in arrs:
                    self._put(gname, "velocity", k,
                              self._rows(sim, torch.stack(list(s.spin_velocities), 1), [0]))
            elif gname.startswith("particles/weights/layer_"):
                l = int(gname.rsplit("_", 1)[1])
                self._put(gname, "value", k, self._rows(sim, s.weights[l - 1], [0]))
                if "velocity" in arrs:
                    self._put(gname, "velocity", k, self._rows(sim, s.weight_velocities[l - 1], [0]))
        for c in self._computes(sim):
            vals = sim.evaluate(c)
            for name, (_shape, dims) in c.fields(s).items():
                gname = f"observables/{name}"
                if gname not in self._arrays:
                    continue
                axes = [i for i, d in enumerate(dims) if d in ("config", "config_a", "config_b")]
                self._put(gname, "value", k, self._rows(sim, vals[name].to(torch.float64), axes))
        self._frames.append((k, sim.step, sim.time))
        if self._frame_bytes is None:   # the same on every rank: ranks flush together
            self._frame_bytes = self._global_frame_bytes()
        if len(self._frames) >= max(1, min(self.buffer_frames,
                                           self.buffer_bytes // max(1, self._frame_bytes))):
            self.flush()

    def _global_frame_bytes(self):
        total = 0
        for arrs in self._arrays.values():
            for name, a in arrs.items():
                if name not in ("step", "time"):
                    total += int(np.prod(a.shape[1:])) * a.dtype.itemsize
        return total

    def _put(self, gname, aname, k, data):
        self._pending.setdefault((gname, aname), []).append((k, data))
        self._pending_bytes += data.nbytes

    def flush(self):
        """Write the buffered frames (runs at the end of every run, before every checkpoint,
        and when the buffer is full). Values first, then step and time: a frame whose step is
        set is complete."""
        if not self._frames:
            return
        for (gname, aname), items in self._pending.items():
            arr = self._arrays[gname][aname]
            dims = arr.metadata.dimension_names
            per_config = len(dims) > 1 and dims[1] == "config"
            if not per_config and not self.is_root:
                continue     # global values are the same on every rank: rank 0 writes them
            for k0, block in _consecutive(items):
                partial = per_config and block.shape[1] != arr.shape[1]
                if partial:   # this process's rows only
                    arr[k0:k0 + len(block), self.row0:self.row0 + block.shape[1]] = block
                else:
                    arr[k0:k0 + len(block)] = block
        from . import parallel
        parallel.barrier()   # every rank's values are written before the frame is marked
        if self.is_root:
            ks = np.array([f[0] for f in self._frames])
            steps = np.array([f[1] for f in self._frames], dtype=np.int64)
            times = np.array([f[2] for f in self._frames], dtype=np.float64)
            for arrs in self._arrays.values():
                st, tm = arrs["step"][:], arrs["time"][:]
                st[ks], tm[ks] = steps, times
                arrs["time"][:] = tm
                arrs["step"][:] = st
        self._pending = {}
        self._pending_bytes = 0
        self._frames = []

    # ------------------------------------------------------------------ state
    def state_dict(self):
        return {"path": self.path}

    def load_state_dict(self, state):
        self.resume = True

    def config(self):
        return {"class": "Zarr", "path": self.path, "trigger": self.trigger.config(),
                "spins": self.spins, "weights": self.weights, "velocities": self.velocities,
                "until": self.until, "chunk_configs": self.chunk_configs}

    def close(self):
        self.flush()
        self._root = None
        self._arrays = {}


def _consecutive(items):
    """[(k, array)] sorted by k -> [(k0, stacked block of consecutive frames)]."""
    items = sorted(items, key=lambda t: t[0])
    out, start, run = [], None, []
    for k, d in items:
        if run and k != start + len(run):
            out.append((start, np.stack(run)))
            run = []
        if not run:
            start = k
        run.append(d)
    if run:
        out.append((start, np.stack(run)))
    return out


def _remove_store(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


class Run:
    """A stored run opened for reading (numpy arrays; xarray on request).

    ``parameters`` is the deck configuration; ``observable(name)`` returns a dict with
    ``step``, ``time``, ``value`` (written frames only) and ``sample``/``replica`` when the
    quantity has a configuration axis; ``spins()``, ``weights(l)`` likewise;
    ``dataset(group)`` returns an xarray Dataset (xarray is optional).
    """

    def __init__(self, path: str):
        zarr = _zarr()
        if not os.path.exists(path):
            raise MDLearnError(f"store {path!r} does not exist")
        try:
            self.root = zarr.open_group(path, mode="r")
        except Exception as exc:
            raise MDLearnError(f"{path!r} is not a zarr store: {exc}") from None
        meta = self.root.attrs.get("mdlearn", {})
        if meta.get("format") != FORMAT:
            raise MDLearnError(f"{path!r} is not an mdlearn store")
        self.path = path
        p = self.root["parameters"].attrs
        self.parameters = json.loads(p["config"])
        self.seed = p.get("seed")
        self.version = p.get("mdlearn_version")

    @property
    def observables(self) -> List[str]:
        return sorted(self.root["observables"].group_keys()) if "observables" in self.root else []

    def _read(self, gname, array="value"):
        g = self.root[gname]
        step = g["step"][:]
        ok = step >= 0
        out = {"step": step[ok], "time": g["time"][:][ok], "value": g[array][:][ok],
               "dims": tuple(g[array].metadata.dimension_names)}
        if "sample" in g:
            out["sample"] = g["sample"][:]
            out["replica"] = g["replica"][:]
        return out

    def observable(self, name: str) -> dict:
        if f"observables/{name}" not in self.root:
            raise MDLearnError(f"no observable {name!r} in {self.path!r}; have {self.observables}")
        return self._read(f"observables/{name}")

    def spins(self) -> dict:
        return self._read("particles/spins")

    def weights(self, layer: int) -> dict:
        return self._read(f"particles/weights/layer_{layer}")

    @property
    def computes(self) -> list:
        return json.loads(self.root["observables"].attrs.get("computes", "[]"))

    def dataset(self, group: str):
        """xarray Dataset of one group (e.g. 'observables/c_layers', 'particles/spins')."""
        try:
            import xarray as xr
        except ImportError as exc:  # pragma: no cover
            raise MDLearnError("xarray is not installed: pip install xarray") from exc
        return xr.open_zarr(self.path, group=group, consolidated=False)


def open_run(path: str) -> Run:
    """Open a stored run for reading.

    >>> import os
    >>> os.path.exists("no/such/store")
    False
    """
    return Run(path)
