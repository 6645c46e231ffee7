"""A throwaway Prometheus server on loopback that scrapes one target every second.

``prometheus_server(target, folder)`` starts ``prometheus`` (from PATH, else Debian's
``/usr/bin/prometheus``) with its configuration, its TSDB and its log in ``folder``, listening
on ``127.0.0.1`` and a free port, waits for ``/-/ready`` and stops it (SIGTERM, then SIGKILL)
when the ``with`` block ends, whatever happened inside. The target may be down at first (a live
run that has not started yet): failed scrapes only write ``up 0``.

The server's HTTP API is read with the standard library. ``query`` evaluates one instant query
at a given time and raises ``PrometheusQueryError`` naming the expression and the API's own
message; ``scrape_after`` waits for the first successful scrape that *started* after a moment,
so whatever the target served to it was already the state at that moment.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "JOB",
    "PrometheusQueryError",
    "PrometheusServer",
    "PrometheusUnavailable",
    "find_prometheus",
    "free_port",
    "prometheus_server",
]

DEBIAN_BINARY = Path("/usr/bin/prometheus")
JOB = "cjsim"
SCRAPE_INTERVAL_S = 1
READY_WAIT_S_MAX = 30.0
STOP_WAIT_S_MAX = 10.0
POLL_S = 0.05
PORT_TRIES = 5
HTTP_TIMEOUT_S = 10.0


class PrometheusUnavailable(Exception):
    """No Prometheus server could be found or started; the message says why."""


class PrometheusQueryError(Exception):
    """The server refused a query; the message names the expression and the server's reason."""


def find_prometheus() -> Path:
    """The ``prometheus`` binary: from PATH, else Debian's."""
    on_path = shutil.which("prometheus")
    if on_path:
        return Path(on_path)
    if DEBIAN_BINARY.is_file():
        return DEBIAN_BINARY
    raise PrometheusUnavailable(
        f"no prometheus binary on PATH or at {DEBIAN_BINARY}; install Debian's prometheus package"
    )


def free_port(*, besides: int | None = None) -> int:
    """A loopback port nobody listens on now (the caller binds it soon after), other than
    ``besides``: a port chosen earlier that its owner has not bound yet."""
    for _ in range(PORT_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port != besides:
            return port
    raise PrometheusUnavailable(f"no free loopback port besides {besides} in {PORT_TRIES} tries")


def scrape_config(target: str) -> str:
    """The configuration: one job, ``JOB``, scraping ``target`` (host:port) every second."""
    return (
        "global:\n"
        f"  scrape_interval: {SCRAPE_INTERVAL_S}s\n"
        f"  scrape_timeout: {SCRAPE_INTERVAL_S}s\n"
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )


@dataclass(frozen=True, slots=True)
class PrometheusServer:
    url: str  # http://127.0.0.1:PORT
    log: Path  # the server's stderr, for a failure's message

    def query(self, expr: str, *, at_s: float) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to at ``at_s`` (Unix seconds): each element
        ``{"metric": {label: value}, "value": [t, "number"]}``."""
        params = urllib.parse.urlencode({"query": expr, "time": f"{at_s:.3f}"})
        try:
            with urllib.request.urlopen(
                f"{self.url}/api/v1/query?{params}", timeout=HTTP_TIMEOUT_S
            ) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:  # 400/422 carry the API's error envelope
            body = json.loads(error.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusQueryError(
                f"{expr!r}: {body.get('errorType', 'error')}: {body.get('error', body)}"
            )
        data = body["data"]
        if data["resultType"] != "vector":
            raise PrometheusQueryError(f"{expr!r}: a {data['resultType']}, not an instant vector")
        result: list[dict[str, Any]] = data["result"]
        return result

    def scrape_after(self, moment_s: float, *, wait_s_max: float) -> float:
        """The timestamp (Unix seconds, to the millisecond) of the first scrape of ``JOB`` that
        started after ``moment_s`` and succeeded, once its samples can be queried. A failed
        scrape (a timeout on a loaded machine) is passed over for the next one.

        ``up`` is committed with the scrape's samples, so once the newer ``up`` is visible so
        is everything that scrape read."""
        deadline = time.monotonic() + wait_s_max
        newest_s, failed = moment_s, 0
        while time.monotonic() < deadline:
            stamps = self.query(f'timestamp(up{{job="{JOB}"}})', at_s=time.time())
            if stamps and float(stamps[0]["value"][1]) > newest_s:
                newest_s = float(stamps[0]["value"][1])
                (up,) = self.query(f'up{{job="{JOB}"}}', at_s=newest_s)
                if up["value"][1] == "1":
                    return newest_s
                failed += 1
            time.sleep(POLL_S)
        raise AssertionError(
            f"Prometheus did not scrape {JOB} successfully within {wait_s_max:g} s after "
            f"{moment_s:.3f} ({failed} failed scrapes); its log: {self.log}"
        )


@contextlib.contextmanager
def prometheus_server(target: str, folder: Path) -> Iterator[PrometheusServer]:
    """A Prometheus server scraping ``target`` (host:port), for as long as the block runs."""
    binary = find_prometheus()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(scrape_config(target), encoding="utf-8")
    log = folder / "prometheus.log"
    # The target is not listening yet: its port looks free too.
    port = free_port(besides=int(target.rpartition(":")[2]))
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_handle:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(process, url, log)
            yield PrometheusServer(url=url, log=log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_WAIT_S_MAX)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_WAIT_S_MAX)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_WAIT_S_MAX
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrometheusUnavailable(
                f"prometheus exited with {process.returncode} before it was ready: "
                f"{log.read_text(encoding='utf-8', errors='replace').strip()}"
            )
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while it starts
        time.sleep(POLL_S)
    raise PrometheusUnavailable(f"prometheus at {url} was not ready within {READY_WAIT_S_MAX:g} s")
