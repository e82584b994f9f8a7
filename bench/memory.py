"""Peak memory of the current process, as the benchmarks report it."""

from __future__ import annotations

import threading
from pathlib import Path


def peak_rss_mb() -> int:
    """This process's own peak resident set (``VmHWM``), in MB.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries that across ``exec``, so a worker
    started by a parent holding a freshly generated multi-GB warehouse reported the parent's
    RSS as its own (the 4x analyze worker read 1,285 MB on its first run, 409 MB on reruns).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)  # kB
    raise RuntimeError("no VmHWM in /proc/self/status: peak RSS needs Linux")


class ChildPeak:
    """Samples a child process's ``VmHWM`` until it exits (the kernel forgets it at exit).

    The last sample is at most ``interval`` old when the child exits; a load's peak is its
    steady state, not its last milliseconds, so that is what is measured.
    """

    def __init__(self, pid: int, *, interval: float = 0.02):
        self._status = Path(f"/proc/{pid}/status")
        self._interval = interval
        self._peak_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.is_set():
            try:
                text = self._status.read_text()
            except (FileNotFoundError, ProcessLookupError):
                return  # exited
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self._peak_kb = max(self._peak_kb, int(line.split()[1]))
            self._done.wait(self._interval)

    def stop(self) -> int:
        """Peak RSS in MB (call after the child has exited)."""
        self._done.set()
        self._thread.join()
        return round(self._peak_kb / 1024)
