"""Sweep runner: default executor, skipping finished runs, errors."""
import json
import os

import pytest

import mdlearn as md
from mdlearn.sweep import Task, run_sweep


def tiny_run(N, kT, directory):
    """A tiny TDLM run writing its own store; returns the final mean energy."""
    data = md.datasets.random_scenario(n_train=5, n_test=3, n_in=6, seed=0)
    system = md.System.create(md.Network(6, N, 3, 2), data, samples=1, seed=0, kT=kT)
    sim = md.Simulation(system, md.forcefield.TDLM(normalize=True),
                        md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=kT), seed=0, progress=False)
    sim.fixes.append(md.fix.ReflectiveWall())
    sim.dumps.append(md.dump.Zarr(os.path.join(directory, "run.zarr"), md.trigger.Periodic(10)))
    sim.run(20)
    sim.close()
    return float(sim.evaluate(md.compute.LayerEnergies())["potential_energy"].mean())


def test_sweep_runs_and_resumes(tmp_path):
    tasks = [Task(name=f"N{N}", fn=tiny_run, kwargs={"N": N, "kT": 1e-4},
                  directory=str(tmp_path / f"N{N}"), pass_directory=True) for N in (2, 3, 4)]
    first = run_sweep(tasks, max_workers=2)
    assert [r.skipped for r in first] == [False] * 3 and all(r.error is None for r in first)
    for t in tasks:
        assert os.path.exists(os.path.join(t.directory, "run.zarr"))
        assert json.load(open(t.done_file))["kwargs"]["N"] == int(t.name[1:])
    # a second call skips finished runs (and returns their stored values)
    mtime = os.path.getmtime(tasks[0].done_file)
    second = run_sweep(tasks)
    assert [r.skipped for r in second] == [True] * 3
    assert [r.value for r in second] == [r.value for r in first]
    assert os.path.getmtime(tasks[0].done_file) == mtime
    # removing one marker reruns only that one
    os.remove(tasks[1].done_file)
    import shutil
    shutil.rmtree(os.path.join(tasks[1].directory, "run.zarr"))
    third = run_sweep(tasks, executor="serial")
    assert [r.skipped for r in third] == [True, False, True]


def failing(x):
    raise RuntimeError(f"boom {x}")


def test_sweep_errors(tmp_path):
    tasks = [Task("a", failing, {"x": 1}, str(tmp_path / "a"))]
    with pytest.raises(ValueError, match="boom 1"):
        run_sweep(tasks, executor="serial")
    res = run_sweep(tasks, executor="serial", raise_errors=False)
    assert "boom 1" in res[0].error and not tasks[0].finished()
    with pytest.raises(ValueError, match="unique"):
        run_sweep(tasks + tasks, executor="serial")
    with pytest.raises(ValueError, match="executor"):
        run_sweep(tasks, executor=42)
