"""mdlearn's native CPU kernels (float32), built on first use.

The TDLM step on the CPU spends most of its time outside the two first-layer products: ~15
memory-bound elementwise passes over the hidden spins, and drawing the Gaussian numbers on
threads that compete with torch's. ``_native.cpp`` does that work in three kernels that run on
torch's own thread pool (docs/performance.md):

- ``normal_rows_``: the noise, row r from configuration r's generator, rows in parallel (the
  very numbers ``KeyedStreams.normal_`` draws);
- ``hidden_pass_``: tanh, residuals, ``D (1 - tanh^2)`` and the squared row norms in float64,
  one pass instead of nine;
- ``leapfrog_spins_`` / ``leapfrog_rows_``: the paper's leapfrog update (or NVE) with the
  spin forces finished on the fly and a single mirror at the walls, one pass, reporting the
  extent of the positions before the fold.

``load()`` compiles the kernels with torch.utils.cpp_extension the first time (about a minute
on 2 cores; it needs a C++ compiler and ninja) and caches the build under torch's extension
directory (``TORCH_EXTENSIONS_DIR``), keyed by the source, the compiler flags, torch's version
and the CPU's instruction set (the build uses ``-march=native``). ``available()`` says whether
they can be used, without raising. Set ``MDLEARN_NATIVE=0`` to never build or use them.

The kernels compute the same step as the eager code up to floating-point rounding: the
tanh is mdlearn's own (within 2 ulp of the correctly rounded value), the layer energies are
summed in float64 directly; the noise is bit for bit the same.
"""
from __future__ import annotations

import hashlib
import os
import platform
import sys
import threading
from typing import Optional

import torch

from .errors import MDLearnError

__all__ = ["available", "load", "unavailable_reason", "NativeUnavailable"]

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_native.cpp")
_CFLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fopenmp"]
_LDFLAGS = ["-fopenmp"]

_lock = threading.Lock()
_module = None
_error: Optional[str] = None


class NativeUnavailable(MDLearnError):
    """The native kernels cannot be built or loaded here (the message says why)."""


def _cpu_tag() -> str:
    flags = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = line
                    break
    except OSError:
        pass
    return platform.machine() + ":" + flags


def build_name() -> str:
    """The extension's name: a hash of everything that changes the binary."""
    with open(_SOURCE, "rb") as fh:
        src = fh.read()
    h = hashlib.sha256()
    for part in (src, " ".join(_CFLAGS + _LDFLAGS).encode(), torch.__version__.encode(),
                 sys.version.encode(), _cpu_tag().encode()):
        h.update(part)
        h.update(b"\0")
    return "mdlearn_native_" + h.hexdigest()[:16]


def _disabled() -> bool:
    return os.environ.get("MDLEARN_NATIVE", "").strip().lower() in ("0", "no", "off", "false")


def load(verbose: bool = False):
    """The compiled kernels' module (built the first time, then cached). Raises
    ``NativeUnavailable`` with the reason when they cannot be built or are disabled."""
    global _module, _error
    if _disabled():
        raise NativeUnavailable("native kernels disabled by MDLEARN_NATIVE=0")
    if _module is not None:
        return _module
    with _lock:
        if _module is not None:
            return _module
        if _error is not None:
            raise NativeUnavailable(_error)
        try:
            from torch.utils import cpp_extension
            name = build_name()
            build_dir = os.path.join(cpp_extension._get_build_directory(name, verbose), "")
            if not os.path.exists(os.path.join(build_dir, name + ".so")):
                print("mdlearn: building the native CPU kernels (once per machine and torch "
                      "version, about a minute)...", file=sys.stderr, flush=True)
            # (copies: cpp_extension.load appends torch's libraries to the lists it is given,
            # which would change build_name() for the next call)
            _module = cpp_extension.load(name=name, sources=[_SOURCE],
                                         extra_cflags=list(_CFLAGS),
                                         extra_ldflags=list(_LDFLAGS), verbose=verbose)
        except Exception as exc:   # no compiler, no ninja, a compile error...
            lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
            errors = [ln for ln in lines if "error" in ln.lower()][1:3]
            detail = "; ".join(([lines[0][:200]] if lines else []) + [e[:200] for e in errors])
            _error = f"the native kernels could not be built ({type(exc).__name__}: {detail})"
            raise NativeUnavailable(_error) from exc
    return _module


def available() -> bool:
    """Whether the native kernels can be used here (builds them the first time)."""
    try:
        load()
    except NativeUnavailable:
        return False
    return True


def unavailable_reason() -> Optional[str]:
    """Why ``available()`` is False (None when the kernels are loaded or not yet tried)."""
    if _disabled():
        return "native kernels disabled by MDLEARN_NATIVE=0"
    return _error
