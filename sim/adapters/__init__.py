"""The simulated adapters: the engine's ports in virtual time, and the faults they inject.

``runtime`` (SimRuntime on SimPy), ``store`` (rows, read-committed isolation and row locks),
``bus`` (delivery with duplicates, delays and orphans), ``provider`` (trace replay and a model
of the judge) and ``faults`` (the seeded schedule of what goes wrong, and when).
"""
