"""Distributed runs (torch.distributed, gloo, 2 ranks, fork): same results as 1 process."""
import os
import signal
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import mdlearn as md
from decks import build
from test_restart import assert_same_store


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, fn, args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        fn(*args)
    finally:
        dist.destroy_process_group()


def spawn(world, fn, *args, expect_kill=False):
    ctx = mp.get_context("fork")
    port = free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, fn, args)) for r in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    codes = [p.exitcode for p in procs]
    if expect_kill:
        assert all(c == -signal.SIGKILL for c in codes), codes
    else:
        assert codes == [0] * world, codes


class KillAt(md.fix.Fix):
    """Simulates a crash: SIGKILL this process when the step is reached (once: a marker file
    remembers that the crash happened, so the resumed run goes through)."""

    def __init__(self, step, marker):
        self.trigger = md.trigger.At([step])
        self.marker = marker

    def apply(self, sim):
        if not os.path.exists(self.marker):
            md.parallel.barrier()
            if sim.ctx.is_root:
                open(self.marker, "w").close()
            md.parallel.barrier()
            os.kill(os.getpid(), signal.SIGKILL)


def deck(store, samples=4):
    return build(store=store, samples=samples, spawn=(3, 20), t_w=(10, 30), dump_every=10)


def dist_run(store, out, steps, ckpt=None, kill_at=None, resume=False):
    from mdlearn.parallel import all_gather_rows
    sim = deck(store)
    if ckpt:
        sim.checkpoint(ckpt, md.trigger.Periodic(20))
    if kill_at:
        sim.fixes.append(KillAt(kill_at, ckpt + ".crashed"))
    if resume:   # the deck rebuilt unchanged, then the checkpoint loaded into it
        sim.load_checkpoint(ckpt)
        sim.resume()
    else:
        sim.run(steps)
    sim.close()
    s = sim.system
    x, v = all_gather_rows(s.x), all_gather_rows(s.v)
    sample = all_gather_rows(s.sample)
    q = sim.evaluate(next(c for c in sim.computes if isinstance(c, md.compute.ReplicaOverlap)))
    if sim.ctx.is_root:
        torch.save({"x": x, "v": v, "sample": sample, "q": q["q_matrix"]}, out)


def reference(tmp_path, steps):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sim = deck(str(tmp_path / "ref.zarr"))
        sim.run(steps)
        sim.close()
    finally:
        torch.set_num_threads(threads)
    return sim


def test_two_ranks_equal_one_rank_bit_for_bit(tmp_path):
    steps = 60
    ref = reference(tmp_path, steps)
    spawn(2, dist_run, str(tmp_path / "d.zarr"), str(tmp_path / "d.pt"), steps)
    got = torch.load(str(tmp_path / "d.pt"))
    assert torch.equal(got["x"], ref.system.x)
    assert torch.equal(got["v"], ref.system.v)
    assert got["sample"].tolist() == ref.system.sample.tolist()
    qref = ref.evaluate(ref.computes[-2])["q_matrix"]
    assert torch.equal(got["q"], qref)
    assert_same_store(str(tmp_path / "ref.zarr"), str(tmp_path / "d.zarr"))
    assert md.io.open_run(str(tmp_path / "d.zarr")).root["parameters"].attrs["ranks"] == 2
    # the stored deck describes the whole run (4 samples at the start), not one rank's block
    stored = md.io.open_run(str(tmp_path / "d.zarr")).parameters["system"]
    single = md.io.open_run(str(tmp_path / "ref.zarr")).parameters["system"]
    assert stored["R"] == single["R"] == 4 and stored["ranks"] == 2


def count_gathers(out):
    """Evaluate the two computes that need every configuration at one step, counting the
    positions gathered (the (R, P) float rows) and the bytes this rank sends."""
    from mdlearn import parallel
    sim = deck(None)
    sim.run(35)                       # past the spawn: 4 samples x 3 replicas on 2 ranks
    calls = []
    real = parallel.all_gather_rows

    def counting(t):
        calls.append((tuple(t.shape), t.numel() * t.element_size()))
        return real(t)
    parallel.all_gather_rows = counting
    try:
        for c in sim.computes:
            if isinstance(c, (md.compute.ReplicaOverlap, md.compute.TestOverlap)):
                sim.evaluate(c)
    finally:
        parallel.all_gather_rows = real
    if sim.ctx.is_root:
        torch.save({"calls": calls, "P": sim.system.P, "R": sim.system.R}, out)


def test_positions_are_gathered_once_per_dump(tmp_path):
    spawn(2, count_gathers, str(tmp_path / "c.pt"))
    got = torch.load(str(tmp_path / "c.pt"))
    position_gathers = [c for c in got["calls"] if c[0] == (got["R"], got["P"])]
    assert got["R"] == 6 and len(position_gathers) == 1, got["calls"]


def test_two_rank_run_killed_and_restarted(tmp_path):
    steps = 80
    reference(tmp_path, steps)
    store, ckpt, out = (str(tmp_path / n) for n in ("k.zarr", "k.ckpt", "k.pt"))
    spawn(2, dist_run, store, out, steps, ckpt, 55, expect_kill=True)
    assert os.path.exists(ckpt) and not os.path.exists(out)
    spawn(2, dist_run, store, out, steps, ckpt, 55, True)
    assert_same_store(str(tmp_path / "ref.zarr"), store)
    # a different process count is refused with a clear error
    with pytest.raises(ValueError, match="same number"):
        md.Simulation.from_checkpoint(ckpt)


def test_split_samples_errors():
    from mdlearn.parallel import split_samples
    assert split_samples(4, 2) == [(0, 2), (2, 4)]
    with pytest.raises(ValueError, match="3 ranks"):
        split_samples(2, 3)
