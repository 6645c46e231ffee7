"""One root seed, many named streams.

Every component that needs randomness asks for its own stream by name
(``streams.random("faults")``). A stream's seed is derived from the root seed and the name with
blake2b, never with the builtin ``hash()`` (salted per process), so the same root seed gives the
same draws in every process, whatever ``PYTHONHASHSEED`` is. Components never share a stream:
adding draws in one component cannot shift the draws of another.

Streams come in two flavours: ``random.Random`` for scalar draws on hot paths (fast per call,
and its ``random()``/``getrandbits()`` sequences are stable across Python versions) and
``numpy.random.Generator`` (PCG64) for vectorised draws.
"""

from __future__ import annotations

import hashlib
import random as _random_module
import uuid

import numpy as np

from engine.seeds import SEED_MAX

__all__ = ["SEED_MAX", "DeterministicIds", "Rng", "Streams", "derive_seed", "stable_hash64"]


#: The scalar stream type, for annotations: a private ``random.Random`` from ``Streams.random``.
Rng = _random_module.Random


def stable_hash64(*parts: object) -> int:
    """A 64-bit hash of the parts' string forms, identical in every process."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def derive_seed(root_seed: int, name: str) -> int:
    """The seed of the stream called ``name`` under ``root_seed``."""
    return stable_hash64("cjsim-stream", root_seed, name)


class Streams:
    """Named, independent random streams derived from one root seed.

    Asking twice for the same name returns the same generator object, so a component may look
    its stream up wherever it is convenient without restarting it.
    """

    def __init__(self, root_seed: int) -> None:
        if not isinstance(root_seed, int) or isinstance(root_seed, bool):
            raise TypeError(f"root seed must be an int, got {root_seed!r}")
        self.root_seed = root_seed
        self._random: dict[str, _random_module.Random] = {}
        self._numpy: dict[str, np.random.Generator] = {}
        self._ids: dict[str, DeterministicIds] = {}

    def random(self, name: str) -> _random_module.Random:
        """The scalar stream ``name`` (a private ``random.Random``, never the global one)."""
        stream = self._random.get(name)
        if stream is None:
            stream = _random_module.Random(derive_seed(self.root_seed, name))
            self._random[name] = stream
        return stream

    def numpy(self, name: str) -> np.random.Generator:
        """The vectorised stream ``name`` (PCG64)."""
        stream = self._numpy.get(name)
        if stream is None:
            stream = np.random.Generator(np.random.PCG64(derive_seed(self.root_seed, "np:" + name)))
            self._numpy[name] = stream
        return stream

    def ids(self, name: str) -> DeterministicIds:
        """A deterministic UUID source called ``name``."""
        source = self._ids.get(name)
        if source is None:
            source = DeterministicIds(derive_seed(self.root_seed, "ids:" + name))
            self._ids[name] = source
        return source

    def child(self, name: str) -> Streams:
        """An independent family of streams, e.g. one per batch or per swarm seed."""
        return Streams(derive_seed(self.root_seed, "child:" + name))


class DeterministicIds:
    """Version-4-shaped UUIDs drawn from a seeded stream: unique in practice, and reproducible."""

    def __init__(self, seed: int) -> None:
        self._bits = _random_module.Random(seed)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(self.next())

    def peek(self) -> str:
        """The id ``next()`` will return, without drawing it."""
        ahead = _random_module.Random()
        ahead.setstate(self._bits.getstate())
        return self._format(ahead.getrandbits(128))

    def next(self) -> str:
        """The next id as a canonical lowercase UUID string (version 4, RFC 4122 variant)."""
        return self._format(self._bits.getrandbits(128))

    @staticmethod
    def _format(bits: int) -> str:
        bits = (bits & ~(0xF000 << 64)) | (4 << 76)  # version 4
        bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # variant 10xx
        text = bits.to_bytes(16, "big").hex()  # the 32 hex digits, faster than format()
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
