"""The Prometheus ``/metrics`` endpoint of a live run, on loopback.

``prometheus_client`` serves the run's own registry in the text exposition format from a daemon
thread. Port 0 takes any free port; the URL is reported so a scraper (or ``curl``) can find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["LOOPBACK", "MetricsServer"]

LOOPBACK = "127.0.0.1"


@dataclass
class MetricsServer:
    server: WSGIServer
    thread: Thread

    @classmethod
    def start(cls, registry: CollectorRegistry, port: int | None) -> MetricsServer | None:
        """Serve ``registry`` on ``port`` (0: any free one); ``None`` when metrics are off."""
        if port is None:
            return None
        server, thread = start_http_server(port, addr=LOOPBACK, registry=registry)
        return cls(server, thread)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_port}/metrics"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
