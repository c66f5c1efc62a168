"""Quick start: train the paper's network on real MNIST 0/1 digits with TDLM dynamics.

The paper's network (L = 10 weight layers, N = 10 hidden units, N_0 = 784 inputs, N_L = 2
outputs) on a few hundred embedded MNIST images, the per-step reading of eq. (11) at
kT = 1e-5, and the pre-activation normalised by sqrt(N_{l-1}) (see docs/decisions.md: without
it layer 1 saturates and the sgn test accuracy stays near 0.5). Prints the thermo table and
the final test accuracy. About 10 seconds on a 2-core laptop.

    python examples/quickstart.py            # or: mdlearn run examples/quickstart.py
    MDLEARN_QUICK_STEPS=200 python examples/quickstart.py   # a shorter run
"""
import os

import mdlearn as md

steps = int(os.environ.get("MDLEARN_QUICK_STEPS", 6000))
every = max(1, steps // 10)

data = md.datasets.mnist01(n_train=200, n_test=400, seed=0)          # embedded, offline
net = md.Network(n_in=784, width=10, depth=10, n_out=2)
system = md.System.create(net, data, samples=2, dtype="float32", seed=1, kT=1e-5)
sim = md.Simulation(
    system,
    forcefield=md.forcefield.TDLM(normalize=True),
    integrator=md.integrate.PaperLangevin(dt=1e-2, eta=1e-3, kT=1e-5, scheme="per-step"),
    seed=1,
)
sim.fixes.append(md.fix.ReflectiveWall())
accuracy = md.compute.TestAccuracy(data.test)
sim.computes.append(accuracy)
sim.dumps.append(md.dump.Thermo(md.trigger.Periodic(every)))
sim.run(steps)

acc = sim.evaluate(accuracy)["test_acc"]
print(f"final sgn test accuracy (argmax rule), per sample: "
      + ", ".join(f"{a:.3f}" for a in acc.tolist()) + f"   mean {acc.mean().item():.3f}")
