"""Checkpoint and restart: bit-for-bit continuation, killed runs, corrupted checkpoints."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import mdlearn as md
from decks import build

HERE = os.path.dirname(os.path.abspath(__file__))


def store_arrays(path):
    import zarr
    root = zarr.open_group(path, mode="r")
    out = {}

    def walk(g, prefix):
        for name, a in g.arrays():
            out[prefix + name] = a[:]
        for name, sub in g.groups():
            walk(sub, prefix + name + "/")
    walk(root, "")
    return out


def assert_same_store(a, b):
    A, B = store_arrays(a), store_arrays(b)
    assert sorted(A) == sorted(B)
    for k in A:
        np.testing.assert_array_equal(A[k], B[k], err_msg=k)


@pytest.mark.parametrize("integrator,spawn_before", [
    ("per-step", True), ("literal", True), ("langevin", True), ("nve", True), ("per-step", False)])
def test_restart_equals_uninterrupted(tmp_path, integrator, spawn_before):
    N = 30
    spawn = (3, 20) if spawn_before else (3, 45)
    ref = build(store=str(tmp_path / "ref.zarr"), integrator=integrator, spawn=spawn,
                t_w=(10, 40))
    ref.run(2 * N)
    ref.close()

    a = build(store=str(tmp_path / "b.zarr"), integrator=integrator, spawn=spawn, t_w=(10, 40))
    a.run(N, check_schedule=False)
    ck = a.save_checkpoint(str(tmp_path / "b.ckpt"))
    a.close()
    del a
    b = md.Simulation.from_checkpoint(ck)
    assert b.step == N
    b.run(N)
    b.close()
    assert torch.equal(ref.system.x, b.system.x)
    assert torch.equal(ref.system.v, b.system.v)
    assert ref.system.sample.tolist() == b.system.sample.tolist()
    assert_same_store(str(tmp_path / "ref.zarr"), str(tmp_path / "b.zarr"))


def test_load_checkpoint_into_rebuilt_deck(tmp_path):
    ref = build(); ref.run(60)
    a = build(); a.run(25, check_schedule=False)
    a.save_checkpoint(str(tmp_path / "c.ckpt"))
    b = build().load_checkpoint(str(tmp_path / "c.ckpt"))
    b.run(35)
    assert torch.equal(ref.system.x, b.system.x)


def test_killed_run_resumes_without_lost_or_duplicated_frames(tmp_path):
    steps = 600
    store, ckpt, thermo = (str(tmp_path / n) for n in ("k.zarr", "k.ckpt", "k.log"))
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "decks.py"), store, ckpt, thermo,
                             str(steps)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    killed_at = None
    while time.time() < deadline:
        if os.path.exists(ckpt) and os.path.exists(thermo):
            lines = open(thermo).read().split("\n")
            rows = [l for l in lines[1:-1] if l.strip()]
            if rows and int(rows[-1].split()[0]) >= 250:
                proc.send_signal(signal.SIGKILL)
                killed_at = int(rows[-1].split()[0])
                break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.wait()
    assert killed_at is not None and killed_at < steps, proc.stderr.read().decode()[-2000:]
    # resume exactly as a user would: the same command again
    subprocess.run([sys.executable, os.path.join(HERE, "decks.py"), store, ckpt, thermo,
                    str(steps)], env=env, check=True, capture_output=True)
    # the uninterrupted reference, same deck in a fresh process
    ref_store = str(tmp_path / "ref.zarr")
    subprocess.run([sys.executable, os.path.join(HERE, "decks.py"), ref_store,
                    str(tmp_path / "ref.ckpt"), str(tmp_path / "ref.log"), str(steps)],
                   env=env, check=True, capture_output=True)
    assert_same_store(ref_store, store)
    ref_log = open(str(tmp_path / "ref.log")).read().splitlines()
    assert open(thermo).read().splitlines() == ref_log
    steps_written = md.io.open_run(store).spins()["step"]
    assert len(set(steps_written.tolist())) == len(steps_written)


def test_checkpoint_written_atomically(tmp_path):
    sim = build()
    sim.checkpoint(str(tmp_path / "p.ckpt"), md.trigger.Periodic(10))
    sim.run(30)
    assert os.path.exists(tmp_path / "p.ckpt") and not os.path.exists(tmp_path / "p.ckpt.tmp")
    assert md.Simulation.from_checkpoint(str(tmp_path / "p.ckpt")).step == 30


@pytest.mark.parametrize("damage", ["garbage", "truncate", "empty", "pickle"])
def test_corrupted_checkpoint_is_a_clear_error(tmp_path, damage):
    sim = build(store=str(tmp_path / "s.zarr"))
    sim.run(30)
    path = tmp_path / "c.ckpt"
    sim.save_checkpoint(str(path))
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        import pickle
        path.write_bytes(pickle.dumps({"format": "evil", "x": os.getcwd}))
    before = store_arrays(str(tmp_path / "s.zarr"))
    with pytest.raises(ValueError, match="c.ckpt"):
        md.Simulation.from_checkpoint(str(path))
    after = store_arrays(str(tmp_path / "s.zarr"))
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_missing_checkpoint():
    with pytest.raises(ValueError, match="does not exist"):
        md.Simulation.from_checkpoint("/no/such.ckpt")
