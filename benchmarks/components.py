"""Where the time of one MD step goes: forces (with and without the force pass), drawing the
noise (one thread, the noise threads, in the background), the integrator update, the walls,
and the fused step, at one shape. Prints milliseconds per step (best of --repeat blocks).

    python benchmarks/components.py                       # M=2000 N=10 L=10 R=16 float32
    python benchmarks/components.py --R 64 --dtype float64
    python benchmarks/components.py --compile             # also the compiled update+walls

Times are wall-clock; on a busy machine compare them within one run only.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import mdlearn as md                                           # noqa: E402
from mdlearn.bench import BenchConfig, _make_system            # noqa: E402


def best(fn, n, repeat):
    fn()
    out = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out = min(out, (time.perf_counter() - t0) / n)
    return out * 1e3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("M", 2000), ("N", 10), ("L", 10), ("N0", 784), ("R", 16)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--kT", type=float, default=1e-5)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--compile", action="store_true")
    a = p.parse_args(argv)
    cfg = BenchConfig(M=a.M, N=a.N, L=a.L, N0=a.N0, R=a.R, dtype=a.dtype, kT=a.kT)
    s = _make_system(cfg, a.M, a.R, a.dtype)
    ff = md.forcefield.TDLM(normalize=True)
    integ = md.integrate.PaperLangevin(dt=1e-2, eta=1e-3, kT=a.kT)
    wall = md.fix.ReflectiveWall()
    streams = md.random.KeyedStreams(1, md.random.STREAM_NOISE, s.sample.tolist(),
                                     s.replica.tolist(), 0, "cpu")
    xi = torch.empty_like(s.x)
    std = integ.noise_std(s)
    # a state with coordinates at the walls, so that the walls have work to do
    s.x.mul_(1.02).clamp_(-1.0, 1.0)
    x0, v0 = s.x.clone(), s.v.clone()

    def reset_then(f):
        def run():
            s.x.copy_(x0)
            s.v.copy_(v0)
            f()
        return run

    def serial():
        for r, g in enumerate(streams.generators):
            xi[r].normal_(0.0, std, generator=g)

    rows = [
        ("forces + energies (TDLM.compute_)", lambda: ff.compute_(s)),
        ("energies only", lambda: ff.compute_(s, forces=False)),
        ("reference forces (compute_reference)", lambda: ff.compute_reference(s)),
        ("noise, one thread per call, rows in turn", serial),
        ("noise, rows on the noise threads", lambda: streams.normal_(xi, std)),
        ("integrator update (3 passes)", lambda: integ.update_(s, xi)),
        ("reset x, v (subtract this from the next two)", reset_then(lambda: None)),
        ("walls, after a reset (coordinates outside)", reset_then(lambda: wall.apply_(s))),
        ("walls, nothing outside (min/max pass only)", lambda: wall.apply_(s)),
        ("fused step, noise during the forces",
         lambda: md.integrate.fused_step(s, ff, integ, wall, streams, overlap_noise=True)),
        ("fused step, noise before the forces",
         lambda: md.integrate.fused_step(s, ff, integ, wall, streams, overlap_noise=False)),
    ]
    if md.native.available():
        # the native step's pieces (FusedStep._run_native), spins held transposed
        nk = md.native.load()
        ff.compute_(s)
        work = ff._work
        H, ns = work.H, s.n_spin_particles
        XT, VT, FT = work.ST.clone(), torch.zeros_like(work.ST), torch.empty_like(work.ST)
        ca, cc, _ = integ._coeffs(s)
        xw, vw, fw = s.x[:, ns:].clone(), s.v[:, ns:].clone(), s.f[:, ns:]

        def native_update():
            nk.leapfrog_spins_(XT, VT, FT, work.D, work.w[:H], xi, ca, cc, integ.dt, -1.0, 1.0)
            nk.leapfrog_rows_(xw, vw, fw, xi[:, ns:], ca, cc, integ.dt, -1.0, 1.0)
        rows += [
            ("native: noise, rows on torch's threads",
             lambda: nk.normal_rows_(xi, streams.generators, std)),
            ("native: forces + energies (transposed spins)",
             lambda: work.run(s, True, False, spins_t=XT, forces_t=FT, native=nk,
                              defer_spin_forces=True)),
            ("native: update + wall (spins and weights)", native_update),
        ]
        rows += [
            ("fused step, native kernels",
             lambda: md.integrate.fused_step(s, ff, integ, wall, streams, native=True)),
            ("5 fused steps in one call, eager (ms per 5 steps)",
             lambda: md.integrate.fused_step(s, ff, integ, wall, streams, n=5)),
            ("5 fused steps in one call, native (ms per 5 steps)",
             lambda: md.integrate.fused_step(s, ff, integ, wall, streams, n=5, native=True)),
        ]
    if a.compile:
        integ_c = md.integrate.PaperLangevin(dt=1e-2, eta=1e-3, kT=a.kT)
        t0 = time.perf_counter()
        md.integrate.fused_step(s, ff, integ_c, wall, streams, compile=True)
        print(f"(compiling the update+walls kernel took {time.perf_counter() - t0:.1f} s)")
        rows.append(("fused step, compiled update+walls",
                     lambda: md.integrate.fused_step(s, ff, integ_c, wall, streams,
                                                     compile=True)))
    print(f"M={a.M} N={a.N} L={a.L} N0={a.N0} R={a.R} {a.dtype}, P={s.P:,}, "
          f"{torch.get_num_threads()} threads, noise threads {md.random.draw_threads()}")
    for name, fn in rows:
        print(f"  {name:52s} {best(fn, a.steps, a.repeat):8.2f} ms")


if __name__ == "__main__":
    main()
