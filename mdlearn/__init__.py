"""mdlearn: molecular dynamics for the thermal deep learning machine (TDLM).

>>> import mdlearn as md
>>> md.Network(784, 10, 10, 2).sizes[-1]
2
"""
from ._version import __version__
from . import errors, trigger, integrate, forcefield, fix, compute, dump, datasets, network, io
from . import checkpoint, analysis, parallel, sweep, native
from .errors import MDLearnError
from .network import Network
from .system import System
from .simulation import Simulation

__all__ = ["__version__", "System", "Simulation", "Network", "MDLearnError", "trigger",
           "integrate", "forcefield", "fix", "compute", "dump", "datasets", "network", "io",
           "checkpoint", "analysis", "parallel", "sweep"]
