"""Live adapters: the asyncio runtime, the in-process bus and the live wiring.

Only this package (and the provider SDK adapters) may touch the wall clock and asyncio.
"""
