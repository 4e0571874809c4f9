"""genrenet: music genre classification."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

if "torch" not in _sys.modules:
    # OpenMP threads that sleep while they wait, instead of spinning: on a machine busy with
    # other work, spinning threads steal each other's time slices, and a training step of two
    # threads took 4.7x longer than with sleeping ones (benchmarks/train.py). Read once, when
    # torch loads OpenMP; a value the user set is kept.
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
