"""Helpers shared by the benchmarks: timed subprocesses with peak memory, medians, text tables.

Standard library only, so that importing it costs a benchmark's parent process nothing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

RESULT_PREFIX = "BENCH-RESULT "
"""A worker subprocess prints one line starting with this, followed by JSON, as its answer."""


@dataclass(frozen=True)
class RunResult:
    """One finished subprocess: wall time, peak resident memory, exit status and its output."""

    wall_s: float
    cpu_s: float
    max_rss_kb: int
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str) -> RunResult:
        """Return self, or exit with the command's own error output when it failed."""
        if self.returncode != 0:
            sys.exit(
                f"error: {what} failed with exit status {self.returncode}\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
            )
        return self


def run_measured(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> RunResult:
    """Run ``cmd`` to completion, timing it from launch to exit (start-up and imports included).

    CPU time (user + system) and peak memory come from ``os.wait4``; both cover the child and
    the children it waited for (CPU time summed; memory the largest single process, not a sum),
    so a process pool's workers are counted once the pool is closed. Output goes to
    temporary files rather than pipes, so a chatty child can never block on a full pipe.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=dict(env or os.environ))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return RunResult(
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss_kb=int(usage.ru_maxrss),
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def worker_result(stdout: str) -> dict:
    """The JSON answer a worker printed after :data:`RESULT_PREFIX`; exits if there is none."""
    import json

    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    sys.exit(f"error: the worker printed no {RESULT_PREFIX.strip()} line; its output:\n{stdout}")


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> str:
    """``min-max`` of the repeats, for judging how noisy a median is."""
    return f"{min(values):.2f}-{max(values):.2f}"


def mib(kb: float) -> str:
    """Kilobytes (as ``ru_maxrss`` reports them on Linux) in MiB, as text."""
    return f"{kb / 1024:.0f} MiB"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def load_note(own: float = 0.0) -> str:
    """The 1-minute load average against the CPUs, warning when other work makes it busy.

    ``own`` is the load this benchmark itself is expected to contribute (its workers).
    """
    if not hasattr(os, "getloadavg"):
        return "load average: unknown"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0]
    note = f"load average {load:.1f} on {cpus} CPUs"
    if cpus and load - own > 0.5 * cpus:
        note += " (busy: other work competes for the CPUs, wall times are inflated; CPU times hold)"
    return note


def repo_root() -> Path:
    """The repository's root folder (the parent of ``benchmarks/``)."""
    return Path(__file__).resolve().parent.parent
