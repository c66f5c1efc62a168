"""Small decks shared by the storage and restart tests (and run as a subprocess)."""
import sys

import mdlearn as md


def build(store=None, integrator="per-step", spawn=(3, 20), t_w=(10, 30), samples=2,
          dump_every=None, thermo=None, ckpt=None, ckpt_every=None, dtype="float64", seed=0):
    data = md.datasets.random_scenario(n_train=6, n_test=5, n_in=8, seed=1)
    system = md.System.create(md.Network(8, 4, 3, 2), data, samples=samples, seed=seed,
                              dtype=dtype, kT=1e-3)
    integ = {
        "per-step": lambda: md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=1e-3),
        "literal": lambda: md.integrate.PaperLangevin(dt=0.05, eta=0.1, kT=1e-3, scheme="literal"),
        "langevin": lambda: md.integrate.Langevin(dt=0.05, gamma=1.0, kT=1e-3),
        "nve": lambda: md.integrate.NVE(dt=0.05),
    }[integrator]()
    sim = md.Simulation(system, md.forcefield.TDLM(normalize=True), integ, seed=seed,
                        progress=False)
    sim.fixes.append(md.fix.ReflectiveWall())
    if spawn:
        sim.fixes.append(md.fix.SpawnReplicas(n=spawn[0], t_w=spawn[1]))
    sim.computes += [md.compute.TestAccuracy(data.test), md.compute.MeanAbsSpin()]
    if t_w:
        sim.computes.append(md.compute.AutoCorrelation(t_w=list(t_w)))
    if spawn and spawn[0] >= 2:
        sim.computes += [md.compute.ReplicaOverlap(), md.compute.TestOverlap(data.test, matrix=True)]
    if thermo:
        sim.dumps.append(md.dump.Thermo(10, file=thermo, stdout=False))
    if store:
        trig = md.trigger.Any(md.trigger.LogSpaced(1, 10_000, 8, zero=True),
                              md.trigger.At(list(t_w or [])),
                              md.trigger.Periodic(dump_every) if dump_every else md.trigger.Never())
        sim.dumps.append(md.dump.Zarr(store, trig))
    if ckpt:
        sim.checkpoint(ckpt, md.trigger.Periodic(ckpt_every))
    return sim


if __name__ == "__main__":
    import os
    import torch
    torch.set_num_threads(1)
    store, ckpt, thermo, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if os.path.exists(ckpt):
        sim = md.Simulation.from_checkpoint(ckpt)
        sim.resume()
    else:
        sim = build(store=store, thermo=thermo, ckpt=ckpt, ckpt_every=50, dump_every=25)
        sim.run(steps)
    sim.close()
