"""Reproduction study 2c: TDLM dynamics vs back-propagation SGD on the same network and data.

Same M = 200 embedded MNIST 0/1 training images, 400 test images, N = 10, L = 10, weights in
the box (-1, 1), pre-activations scaled by 1/sqrt(N_{l-1}) in both. N_s = 2 samples, N_r = 3
replicas spawned at t_w = 1e3 (TDLM: same positions, fresh Maxwell-Boltzmann velocities;
SGD: same weights and momentum, own minibatch order). Reports A(t) (sgn test network of
Appendix D) for both at log-spaced steps, final accuracies, and the layer profiles of the
replica overlaps Q_l (weights, eq. 18) and, for the TDLM, q_l (spins, eq. 17), raw and
normalised (Q^{ab} / sqrt(Q^{aa} Q^{bb})), at the end of the run.

SGD variants: squared error on tanh outputs (lr 0.05 and 0.5) and cross-entropy (lr 0.1),
minibatch 20, momentum 0.9; plus the squared error without the normalisation (eq. 2
verbatim scaling), which saturates layer 1 exactly as the TDLM does.

    python examples/reproduction/sgd_vs_tdlm.py     # ~6 min on 2 shared cores
    MDLEARN_REPRO_SCALE=0.05 python examples/reproduction/sgd_vs_tdlm.py   # smoke run

Raw numbers: docs/reproduction_data/sgd_vs_tdlm.json; ``--report`` prints the tables from
it without running anything.
"""
import time

import numpy as np

import mdlearn as md
from mdlearn.baseline import SGDBaseline
from _common import first_crossing, load, log_steps, repro_scale, report_only, save

SCALE = repro_scale()
M, N, L, NS, NR = 200, 10, 10, 2, 3
STEPS = max(200, int(10_000 * SCALE))
T_W = max(10, int(1_000 * SCALE))


def nanlist(a):
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else float(v)
            for v in np.asarray(a, dtype=float).tolist()]


def run_tdlm(data):
    net = md.Network(784, N, L, 2)
    system = md.System.create(net, data, samples=NS, dtype="float32", seed=1, kT=1e-5)
    sim = md.Simulation(system, md.forcefield.TDLM(normalize=True),
                        md.integrate.PaperLangevin(dt=1e-2, eta=1e-3, kT=1e-5,
                                                   scheme="per-step"), seed=1, progress=False)
    sim.fixes += [md.fix.ReflectiveWall(), md.fix.SpawnReplicas(n=NR, t_w=T_W)]
    acc, acc_tanh = md.compute.TestAccuracy(data.test), \
        md.compute.TestAccuracy(data.test, activation="tanh")
    ov = md.compute.ReplicaOverlap(matrix=False)
    rec = {"step": [], "A": [], "A_tanh": []}
    t0 = time.time()
    steps = sorted(set(log_steps(STEPS, 8) + [T_W]))
    for step in steps:
        if step > sim.step:
            sim.run(step - sim.step, progress=False, check_schedule=False)
        rec["step"].append(sim.step)
        rec["A"].append(float(sim.evaluate(acc)["test_acc"].mean()))
        rec["A_tanh"].append(float(sim.evaluate(acc_tanh)[acc_tanh.name].mean()))
    o = sim.evaluate(ov)
    for k in ("q_layers", "Q_layers", "q_layers_normalized", "Q_layers_normalized"):
        rec[k] = nanlist(o[k].cpu().numpy())
    rec["A_final_per_config"] = nanlist(sim.evaluate(acc)["test_acc"].cpu().numpy())
    rec["wall_s"] = time.time() - t0
    print(f"  [TDLM per-step, norm] {sim.step} steps in {rec['wall_s']:.0f} s", flush=True)
    return rec


def run_sgd(data, label, replicas=True, steps=STEPS, **kw):
    t0 = time.time()
    net = md.Network(784, N, L, 2)
    sgd = SGDBaseline(net, data, samples=NS, batch=20, momentum=0.9, seed=1,
                      replicas=NR if replicas else None, t_w=T_W if replicas else None, **kw)
    every = sorted(set(log_steps(steps, 8) + ([T_W] if replicas else [])))
    out = sgd.run(steps, every=every)
    rec = {"label": label, "config": sgd.config(), "step": out["step"].tolist(),
           "A": out["test_acc"].mean(1).tolist(), "A_tanh": out["test_acc_tanh"].mean(1).tolist(),
           "train_acc": out["train_acc"].mean(1).tolist(), "loss": out["loss"].mean(1).tolist(),
           "Q_layers": nanlist(out["Q_layers"][-1]),
           "Q_layers_normalized": nanlist(out["Q_layers_normalized"][-1]),
           "A_final_per_config": out["test_acc"][-1].tolist(), "wall_s": time.time() - t0}
    print(f"  [SGD {label}] {steps} steps in {rec['wall_s']:.0f} s", flush=True)
    return rec


def main(argv=None):
    if report_only(argv):
        report(load("sgd_vs_tdlm.json"))
        return
    data = md.datasets.mnist01(n_train=M, n_test=400, seed=0)
    res = {"params": dict(M=M, N=N, L=L, samples=NS, replicas=NR, t_w=T_W, steps=STEPS)}
    res["tdlm"] = run_tdlm(data)
    save("sgd_vs_tdlm.json", res)
    short = max(200, STEPS // 3)
    res["sgd"] = [run_sgd(data, "mse, lr 0.05", loss="mse", lr=0.05),
                  run_sgd(data, "mse, lr 0.5", replicas=False, steps=short, loss="mse", lr=0.5),
                  run_sgd(data, "xent, lr 0.1", replicas=False, steps=short, loss="xent", lr=0.1),
                  run_sgd(data, "mse, lr 0.05, no normalisation", replicas=False, steps=short,
                          loss="mse", lr=0.05, normalize=False)]
    save("sgd_vs_tdlm.json", res)
    report(res)


def report(res):
    """Print the tables of ``res`` (the content of sgd_vs_tdlm.json)."""
    print("\nA(t) (sgn test network, mean over configurations)")
    rows = [("TDLM per-step norm", res["tdlm"])] + [("SGD " + r["label"], r) for r in res["sgd"]]
    show = [0, 10, 30, 100, 300, 1000, 3000, 10000]
    print("| run | " + " | ".join(f"t={s}" for s in show) + " | t(A=0.75) | final A sgn | final A tanh |")
    print("|" + "---|" * (len(show) + 4))
    for name, r in rows:
        cells = []
        for s in show:
            if s in r["step"]:
                cells.append(f"{r['A'][r['step'].index(s)]:.3f}")
            else:
                k = [i for i, t in enumerate(r["step"]) if t <= s]
                cells.append(f"{r['A'][k[-1]]:.3f}" if k and s <= r["step"][-1] else "-")
        t75 = first_crossing(r["step"], r["A"], 0.75)
        print(f"| {name} | " + " | ".join(cells) +
              f" | {'-' if t75 is None else f'{t75:.3g}'} | {r['A'][-1]:.3f} | {r['A_tanh'][-1]:.3f} |")
    print(f"\nReplica overlaps at step {STEPS} (t_w = {T_W}), by layer l = 1..L")
    f = lambda v: " ".join("-" if x is None else f"{x:.2f}" for x in v)
    t = res["tdlm"]
    print("| quantity | values |\n|---|---|")
    print(f"| TDLM q_l raw (spins, l = 1..9) | {f(t['q_layers'])} |")
    print(f"| TDLM q_l normalised | {f(t['q_layers_normalized'])} |")
    print(f"| TDLM Q_l raw (weights) | {f(t['Q_layers'])} |")
    print(f"| TDLM Q_l normalised | {f(t['Q_layers_normalized'])} |")
    s = res["sgd"][0]
    print(f"| SGD {s['label']} Q_l raw | {f(s['Q_layers'])} |")
    print(f"| SGD {s['label']} Q_l normalised | {f(s['Q_layers_normalized'])} |")


if __name__ == "__main__":
    main()
