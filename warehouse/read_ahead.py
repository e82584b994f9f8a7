"""Read the next batches in a thread while the current one is written."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_DONE = object()


def read_ahead(items: Iterable[T], *, depth: int = 2) -> Iterator[T]:
    """Read and convert the next batches in a thread while this one is written.

    Arrow and the database drivers release the GIL in their C code, so reading and writing
    overlap on two cores. ``depth`` bounds the batches held in memory; an exception in the
    reader is re-raised here, and stopping early (a write failed) stops the reader.
    """
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            handoff.put(exc)

    reader = threading.Thread(target=produce, name="read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting on a full queue
            try:
                handoff.get_nowait()
            except queue.Empty:
                reader.join(timeout=0.1)
