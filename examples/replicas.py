"""Replica experiment: N_s = 2 samples x N_r = 3 replicas, two waiting times, log-spaced dumps.

The paper's network (L = 10, N = 10, N_0 = 784, N_L = 2) on 200 embedded MNIST 0/1 images,
per-step reading of eq. (11) at kT = 1e-5, normalised pre-activations. Replicas are spawned
at t_w = 1000 (during learning); auto-correlations are referenced at t_w = 1000 and 3000.
Everything goes to a zarr store (default replicas.zarr) and a checkpoint is written every
1000 steps, so an interrupted run resumes where it stopped:

    mdlearn run examples/replicas.py                 # about 30 seconds on 2 cores
    mdlearn run examples/replicas.py -- --steps 3000 --out /tmp/rep.zarr
    mdlearn analyze replicas.zarr                    # tau_l, q_l*, phases

Running the same command again after an interruption resumes from the checkpoint; after a
finished run it refuses to overwrite the store (pass --overwrite).
"""
import argparse
import os

import mdlearn as md

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--steps", type=int, default=10_000)
p.add_argument("--out", default="replicas.zarr")
p.add_argument("--overwrite", action="store_true")
p.add_argument("--dtype", default="float32")
p.add_argument("--device", default="cpu")
args = p.parse_args()

ckpt = args.out + ".ckpt"
if os.path.exists(ckpt) and not args.overwrite:
    sim = md.Simulation.from_checkpoint(ckpt, device=args.device)
    if sim.step < sim._run_target:
        print(f"resuming from step {sim.step} ({ckpt})")
        sim.resume()
        sim.close()
        raise SystemExit(0)
    raise SystemExit(f"{args.out} holds a finished run; pass --overwrite to start again")

t_w = min(1000, args.steps // 3)
t_w2 = min(3 * t_w, args.steps)      # the second waiting time of the auto-correlations
data = md.datasets.mnist01(n_train=200, n_test=400, seed=0)
net = md.Network(n_in=784, width=10, depth=10, n_out=2)
system = md.System.create(net, data, samples=2, dtype=args.dtype, device=args.device, seed=1,
                          kT=1e-5)
sim = md.Simulation(
    system,
    forcefield=md.forcefield.TDLM(normalize=True),
    integrator=md.integrate.PaperLangevin(dt=1e-2, eta=1e-3, kT=1e-5, scheme="per-step"),
    seed=1,
)
sim.fixes += [md.fix.ReflectiveWall(), md.fix.SpawnReplicas(n=3, t_w=t_w)]
sim.computes += [
    md.compute.TestAccuracy(data.test),
    md.compute.MeanAbsSpin(),
    md.compute.AutoCorrelation(t_w=[t_w, t_w2]),
    md.compute.ReplicaOverlap(),
    md.compute.TestOverlap(data.test),
]
# log-spaced frames from the start and from each waiting time, so that c_l(t, t_w) and
# q_l(t, t_w) are sampled evenly in log t for both t_w
frames = md.trigger.Any(md.trigger.LogSpaced(first=1, last=args.steps, per_decade=10, zero=True),
                        md.trigger.LogSpaced(first=1, last=args.steps, per_decade=10, offset=t_w),
                        md.trigger.LogSpaced(first=1, last=args.steps, per_decade=10,
                                             offset=t_w2, zero=True))
sim.dumps += [md.dump.Thermo(md.trigger.Periodic(max(1, args.steps // 10))),
              md.dump.Zarr(args.out, frames, overwrite=args.overwrite)]
sim.checkpoint(ckpt, md.trigger.Periodic(1000, phase=1000))
sim.run(args.steps)
sim.save_checkpoint(ckpt)     # the final state: a later call knows the run is finished
sim.close()
