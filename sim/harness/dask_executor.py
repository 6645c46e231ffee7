"""The Dask executor: a sweep or a swarm on a Dask distributed cluster (``cjsim[dask]``).

A running scheduler by address (``tcp://host:8786``), or ``local:N`` for a ``LocalCluster`` of
N one-thread worker processes started here. Tasks are submitted with their own key
(``key_of``: a run's id, so a task is named the same on every attempt) and stream back as they
finish. When a worker is lost, Dask reschedules the tasks it held on the others; a task that
takes down ``distributed.scheduler.allowed-failures`` workers comes back as ``KilledWorker``
and is reported through ``failed``, like a task that raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["DaskCluster", "DaskError", "local_workers"]

T = TypeVar("T")
R = TypeVar("R")

SCHEDULER_TIMEOUT_S = 10  # a scheduler address that does not answer: refused, not waited on


@dataclass(frozen=True, slots=True)
class DaskCluster:
    """A Dask distributed cluster: ``address`` of a running scheduler (``tcp://host:8786``),
    or ``local:N`` for a ``LocalCluster`` of N worker processes started here."""

    address: str

    def check(self) -> None:
        """Raise ``DaskError`` now, before any output is written, when Dask is missing or no
        scheduler answers at ``address`` (a local cluster is started by ``run``)."""
        client = self._client(local=False)
        if client is not None:
            client.close()

    def _client(self, *, local: bool) -> Any:
        """A client of the scheduler at ``address``, or none for ``local:N`` unless ``local``
        (then a client of a new ``LocalCluster``, closed with the client)."""
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - depends on the install
            raise DaskError(
                "--dask: Dask distributed is not installed; install cjsim[dask]"
            ) from None
        if self.address.startswith("local:"):
            if not local:
                return None
            cluster = LocalCluster(
                n_workers=local_workers(self.address),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                # Its HTTP routes (health, metrics) on a free loopback port: the default,
                # 8787, may be taken, and None does not turn the server off.
                dashboard_address="127.0.0.1:0",
            )
            return Client(cluster)
        try:
            return Client(self.address, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise DaskError(
                f"--dask {self.address}: no Dask scheduler answers there ({exc})"
            ) from None

    def run(
        self,
        work: Callable[[T], R],
        tasks: Iterable[T],
        *,
        failed: Callable[[T, BaseException | None], R],
        key_of: Callable[[T], str],
    ) -> Iterator[tuple[T, R]]:
        from distributed import as_completed

        client = self._client(local=True)
        # Only a cluster started here is ours to close; a running scheduler is the user's.
        cluster = client.cluster if self.address.startswith("local:") else None
        try:
            by_key: dict[str, T] = {}
            futures = []
            for task in tasks:
                key = key_of(task)
                by_key[key] = task
                futures.append(client.submit(work, task, key=key, pure=False))
            for future in as_completed(futures):
                task = by_key[future.key]
                try:
                    result = future.result()
                except Exception as exc:  # the task's own error, or KilledWorker
                    result = failed(task, exc)
                future.release()
                yield task, result
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def local_workers(address: str) -> int:
    """N of ``local:N`` (the command line checked it is a count)."""
    return int(address.removeprefix("local:"))


class DaskError(ValueError):
    """``--dask`` without the optional extra installed, or a scheduler that does not answer:
    one line, exit 2."""
