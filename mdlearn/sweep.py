"""Sweeps of independent runs (phase diagram, temperature and depth scans) through any
``concurrent.futures``-style executor.

A sweep is a list of :class:`Task` objects, each a picklable function and its keyword
arguments plus the directory it writes into. ``run_sweep`` submits the unfinished tasks to an
executor (a local process pool by default; any object with ``submit(fn, *args)`` returning a
future works, e.g. ``submitit.AutoExecutor`` for SLURM) and marks each finished task with a
``DONE.json`` file in its directory, so calling it again skips what is finished (resumable).

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> tasks = [Task(name=f"a{k}", fn=pow, kwargs={"base": k, "exp": 2}, directory=f"{d}/a{k}")
...          for k in range(3)]
>>> [r.value for r in run_sweep(tasks, executor="serial")]
[0, 1, 4]
>>> [r.skipped for r in run_sweep(tasks, executor="serial")]
[True, True, True]
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional

from .errors import MDLearnError

__all__ = ["Task", "Result", "run_sweep", "SerialExecutor", "grid"]

DONE = "DONE.json"


@dataclass
class Task:
    """One run of a sweep: ``fn(**kwargs)`` writing into ``directory``.

    If ``pass_directory`` is True the directory is passed as ``directory=...``. The value
    returned by ``fn`` must be JSON-serialisable (it is stored in DONE.json)."""

    name: str
    fn: Callable
    kwargs: Dict[str, Any] = field(default_factory=dict)
    directory: str = "."
    pass_directory: bool = False

    @property
    def done_file(self) -> str:
        return os.path.join(self.directory, DONE)

    def finished(self) -> bool:
        return os.path.exists(self.done_file)


@dataclass
class Result:
    name: str
    value: Any = None
    skipped: bool = False
    seconds: float = 0.0
    error: Optional[str] = None


class SerialExecutor:
    """Runs tasks in the calling process (for debugging and doctests)."""

    def submit(self, fn, *args, **kwargs):
        fut = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - the future carries it
            fut.set_exception(exc)
        return fut

    def shutdown(self, wait=True):
        pass


def _execute(fn, kwargs, directory, pass_directory):
    os.makedirs(directory, exist_ok=True)
    t0 = time.time()
    kw = dict(kwargs)
    if pass_directory:
        kw["directory"] = directory
    value = fn(**kw)
    seconds = time.time() - t0
    tmp = os.path.join(directory, DONE + ".tmp")
    with open(tmp, "w") as fh:
        json.dump({"value": value, "seconds": seconds, "kwargs": _jsonable(kwargs)}, fh,
                  default=str)
    os.replace(tmp, os.path.join(directory, DONE))
    return value, seconds


def _jsonable(obj):
    try:
        json.dumps(obj)
        return obj
    except TypeError:
        return {k: str(v) for k, v in obj.items()} if isinstance(obj, dict) else str(obj)


def run_sweep(tasks: Iterable[Task], executor=None, max_workers: Optional[int] = None,
              raise_errors: bool = True) -> List[Result]:
    """Run the unfinished tasks through ``executor`` and return one Result per task, in order.

    executor: None or "process" (a local ProcessPoolExecutor with ``max_workers`` whose
    workers are started fresh, so task functions must be importable: defined in a module,
    not in ``__main__`` of an interactive session),
    "serial", or any object with ``submit(fn, *args)`` (ThreadPoolExecutor, submitit's
    AutoExecutor for SLURM, a dask client, ...). Finished tasks (DONE.json present) are
    skipped and report the stored value. With ``raise_errors`` the first failure is raised
    after all tasks ended (its traceback in the message); otherwise it is in ``Result.error``.
    """
    tasks = list(tasks)
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise MDLearnError(f"task names must be unique, got {names}")
    dirs = [os.path.abspath(t.directory) for t in tasks]
    if len(set(dirs)) != len(dirs):
        raise MDLearnError("every task needs its own directory")
    own = False
    if executor is None or executor == "process":
        # fresh worker processes ("spawn"): forking a process that already runs threads
        # (torch's OpenMP pool, the noise threads, torch.compile's workers) can deadlock
        executor = cf.ProcessPoolExecutor(max_workers=max_workers,
                                          mp_context=multiprocessing.get_context("spawn"))
        own = True
    elif executor == "serial":
        executor = SerialExecutor()
    elif not hasattr(executor, "submit"):
        raise MDLearnError(f"executor must be 'process', 'serial' or have submit(), got {executor!r}")
    results: List[Optional[Result]] = [None] * len(tasks)
    futures = {}
    try:
        for i, t in enumerate(tasks):
            if t.finished():
                with open(t.done_file) as fh:
                    info = json.load(fh)
                results[i] = Result(t.name, info.get("value"), skipped=True,
                                    seconds=info.get("seconds", 0.0))
                continue
            futures[i] = executor.submit(_execute, t.fn, t.kwargs, t.directory, t.pass_directory)
        for i, fut in futures.items():
            try:
                value, seconds = fut.result()
                results[i] = Result(tasks[i].name, value, seconds=seconds)
            except BaseException as exc:  # noqa: BLE001
                results[i] = Result(tasks[i].name, error="".join(
                    traceback.format_exception(type(exc), exc, exc.__traceback__)))
    finally:
        if own:
            executor.shutdown(wait=True)
    failed = [r for r in results if r.error]
    if failed and raise_errors:
        raise MDLearnError(f"{len(failed)} of {len(tasks)} sweep tasks failed; first, "
                           f"{failed[0].name}:\n{failed[0].error}")
    return results


def grid(**axes) -> List[dict]:
    """Cartesian product of parameter lists: grid(N=[5, 10], kT=[1e-5]) ->
    [{'N': 5, 'kT': 1e-5}, {'N': 10, 'kT': 1e-5}]."""
    import itertools
    keys = list(axes)
    return [dict(zip(keys, vals)) for vals in itertools.product(*[axes[k] for k in keys])]
