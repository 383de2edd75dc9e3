"""Python's cyclic garbage collector in the worker processes: collect the young less often, freeze start-up.

Reference counting frees nearly everything a batch allocates; the cyclic collector
only has to find cycles. By default it runs on the youngest generation every 700
net allocations, and each full collection walks every object alive, including the
hundreds of thousands that imports, the Faust app and the catalog created once at
start-up. ``gc.freeze()`` moves those to a permanent generation the collector never
scans (objects there are still freed by reference counting), and a higher
young-generation threshold lets most short-lived objects die before a collection
looks at them.
"""

from __future__ import annotations

import gc
import logging
import time

from streams.settings import GcPolicy

log = logging.getLogger("streamdecide.gc")

MS_PER_S = 1000.0


def apply_gc_policy(policy: GcPolicy) -> None:
    """Set the young generation's threshold; the older generations keep Python's.

    Examples
    --------
    >>> before = gc.get_threshold()
    >>> apply_gc_policy(GcPolicy(young_threshold=5_000))
    >>> gc.get_threshold()[0]
    5000
    >>> gc.set_threshold(*before)
    """
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(policy.young_threshold, older, oldest)


def freeze_long_lived(policy: GcPolicy) -> int:
    """Collect once, then freeze every object still alive (when the policy says so); returns how many are frozen.

    Called once start-up is done (the decision worker: when it is ready to decide):
    what is alive then (modules, the app, the catalog) lives as long as the process.
    """
    if not policy.freeze_after_start:
        return gc.get_freeze_count()
    began = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("froze start-up objects", extra={"objects": frozen,
                                              "ms": round((time.perf_counter() - began) * MS_PER_S, 1)})  # fmt: skip
    return frozen
