"""A headless Chromium for testing cjsim's HTML pages, driven from its command line.

Theory of operation. Every call starts a fresh ``chromium --headless`` with a profile of its own
(``--user-data-dir`` in a temporary directory, deleted afterwards) and a time limit, then reads
what it left behind:

* ``visit``: the DOM after the page's scripts ran (``--dump-dom``). ``--virtual-time-budget``
  lets the page's timers and promises run for that many virtual milliseconds before the DOM is
  read, so Vega has drawn; it is virtual time, so a fast page is read at once. The console comes
  from ``--enable-logging=stderr``: Chromium writes each message of a web page as an
  ``INFO:CONSOLE`` line, *at INFO whatever its level* (it keeps the real level for its own
  pages only), so ``console.error`` and ``console.log`` look alike and only an uncaught
  exception is told apart, by its text (``Uncaught ...``). Tests therefore ask for no console
  output at all. The requests the page made are read from the network log
  (``--log-net-log``), where the page's own requests are the ones made from ``file://``.
* ``print_pdf``: the page printed after its scripts ran (``--print-to-pdf``, with
  ``--no-pdf-header-footer`` so the file holds no date or path).
* ``screenshot``: a PNG of the page after its scripts ran (``--screenshot``). Chromium captures
  the window (``--window-size``), not the whole page, so a tall window shows a long page.
* ``dom_without_scripts``: the DOM of the page loaded with scripts off. Neither flag alone does
  it in headless Chromium 150: ``--disable-javascript`` is ignored (scripts still run), and
  ``--blink-settings=scriptEnabled=false`` does turn scripts off but then ``--dump-dom`` prints
  nothing, because it serialises the DOM *by running a script*. So this one call keeps the
  blink setting and reads the DOM over the DevTools protocol instead (``--remote-debugging-pipe``:
  JSON messages ending in a NUL byte, written to the browser's fd 3 and read from its fd 4), with
  ``DOM.getOuterHTML``, which runs no script.

No network, ever: every host name resolves to nothing (``--host-resolver-rules``), and every
request, loopback included (``--proxy-bypass-list=<-loopback>``), goes to a proxy on port 9 of
127.0.0.1, where nothing listens. A page that tries to fetch anything fails to, and the request
is still in the network log for a test to name.

``chromium()`` finds the binary (``CJSIM_CHROMIUM``, else ``chromium`` on ``PATH``). Without
one the browser tests are skipped, saying why; under ``CI`` they fail instead, so CI cannot pass
without having run them (as the PostgreSQL tests do, tests/contracts/postgres.py). Reading the
DOM it returns is tests/reports/dom.py's (its names are re-exported here).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reports.dom import Chart, Element, assert_drawn, charts, parse_dom

__all__ = [
    "ENV_BINARY",
    "Browser",
    "BrowserFailed",
    "BrowserUnavailable",
    "Chart",
    "ConsoleMessage",
    "Element",
    "Visit",
    "assert_clean",
    "assert_drawn",
    "charts",
    "chromium",
    "parse_dom",
    "pdf_page_count",
    "png_dimensions",
]

ENV_BINARY = "CJSIM_CHROMIUM"
#: Virtual milliseconds a page's scripts get before it is read; Vega needs a few hundred.
VIRTUAL_TIME_BUDGET_MS = 10_000
#: Wall seconds one browser run may take: a page is read in about 1.5 s on a quiet machine.
RUN_TIMEOUT_S = 90.0
STDERR_TAIL_LINES = 30
#: A screenshot's window: a laptop's width, and tall enough for the whole of each page today (the
#: run page of eng5_regular_24 is about 7,850 px), as Chromium captures the window only.
SCREENSHOT_WIDTH_PX = 1280
SCREENSHOT_HEIGHT_PX = 8000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Flags of every run. --no-sandbox: the sandbox cannot start as root or in most containers.
COMMON_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--enable-logging=stderr",
    "--v=0",
)
SCRIPTS_OFF_FLAG = "--blink-settings=scriptEnabled=false"

# `[pid:tid:time:INFO:CONSOLE:12] "message", source: file:///page.html (12)`; the message may
# hold quotes and run over several lines, so it ends only where `", source: URL (N)` ends a line.
_CONSOLE = re.compile(
    r':CONSOLE(?::\d+)?\] "(?P<text>.*?)", source: (?P<source>\S*) \((?P<line>\d+)\)$',
    re.DOTALL | re.MULTILINE,
)
_NETWORK_SCHEMES = ("http:", "https:", "ws:", "wss:", "ftp:")


class BrowserUnavailable(Exception):
    """No Chromium binary to run; the message says where it was looked for."""


class BrowserFailed(Exception):
    """Chromium ran but did not do what it was asked: it exited with an error, ran out of time
    or left no output. The message holds the command and the end of its stderr."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleMessage:
    """One line the page wrote to the console (or an exception it did not catch)."""

    text: str
    source: str
    line: int

    @property
    def uncaught(self) -> bool:
        """An exception no script caught: the one kind of console line known to be an error."""
        return self.text.startswith("Uncaught")

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.text}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Visit:
    """A page as the browser left it: its DOM after the scripts ran, what it wrote to the
    console, and the network addresses it tried to reach (every one of them refused)."""

    dom: str
    console: tuple[ConsoleMessage, ...]
    requests: tuple[str, ...]

    @property
    def errors(self) -> tuple[ConsoleMessage, ...]:
        return tuple(message for message in self.console if message.uncaught)


def pdf_page_count(pdf: bytes) -> int:
    """The number of page objects in a PDF as Chromium (Skia) writes it: uncompressed page
    dictionaries, each with ``/Type /Page``."""
    return len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf))


def png_dimensions(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG, from its header chunk (IHDR, always first)."""
    assert png.startswith(PNG_SIGNATURE), f"not a PNG: {png[:8]!r}"
    assert png[12:16] == b"IHDR", f"a PNG without its header chunk first: {png[8:16]!r}"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _console(stderr: str) -> tuple[ConsoleMessage, ...]:
    return tuple(
        ConsoleMessage(text=match["text"], source=match["source"], line=int(match["line"]))
        for match in _CONSOLE.finditer(stderr)
    )


def _page_requests(net_log: Path) -> tuple[str, ...]:
    """Network URLs requested from ``file://`` pages, in the order they started. Chromium's own
    requests (there are a few even with background networking off) carry another isolation key."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        url = params.get("url", "")
        if (
            event["type"] == start_job
            and str(params.get("network_isolation_key", "")).startswith("file://")
            and url.startswith(_NETWORK_SCHEMES)
        ):
            urls.append(url)
    return tuple(urls)


@dataclass(frozen=True, slots=True)
class Browser:
    """The Chromium at ``binary``; each method is one fresh, bounded browser run."""

    binary: Path
    timeout_s: float = RUN_TIMEOUT_S

    def visit(self, page: Path, *, budget_ms: int = VIRTUAL_TIME_BUDGET_MS) -> Visit:
        """``page`` (an HTML file) after its scripts ran for ``budget_ms`` virtual ms."""
        with tempfile.TemporaryDirectory(prefix="cjsim-browser-") as scratch:
            net_log = Path(scratch) / "net-log.json"
            stdout, stderr = self._run(
                f"--virtual-time-budget={budget_ms}",
                f"--log-net-log={net_log}",
                "--dump-dom",
                _url(page),
                scratch=Path(scratch),
            )
            if not stdout.strip():
                raise BrowserFailed(self._failure("printed no DOM", page, stderr))
            return Visit(dom=stdout, console=_console(stderr), requests=_page_requests(net_log))

    def print_pdf(self, page: Path, *, budget_ms: int = VIRTUAL_TIME_BUDGET_MS) -> bytes:
        """``page`` printed to PDF after its scripts ran for ``budget_ms`` virtual ms."""
        return self._capture(
            page, "page.pdf", budget_ms, "--no-pdf-header-footer", "--print-to-pdf"
        )

    def screenshot(
        self,
        page: Path,
        png_path: Path,
        *,
        width_px: int = SCREENSHOT_WIDTH_PX,
        height_px: int = SCREENSHOT_HEIGHT_PX,
        budget_ms: int = VIRTUAL_TIME_BUDGET_MS,
    ) -> bytes:
        """A PNG of ``page``'s top ``width_px`` x ``height_px`` after its scripts ran for
        ``budget_ms`` virtual ms, written to ``png_path`` and answered."""
        png = self._capture(
            page, "page.png", budget_ms, f"--window-size={width_px},{height_px}", "--screenshot"
        )
        if not png.startswith(PNG_SIGNATURE):
            raise BrowserFailed(f"{page}: the screenshot is not a PNG: {png[:16]!r}")
        png_path.write_bytes(png)
        return png

    def _capture(self, page: Path, name: str, budget_ms: int, *flags: str) -> bytes:
        """The file an output flag (the last of ``flags``, given ``=PATH``) made of ``page``."""
        *options, output_flag = flags
        with tempfile.TemporaryDirectory(prefix="cjsim-browser-") as scratch:
            output = Path(scratch) / name
            _, stderr = self._run(
                f"--virtual-time-budget={budget_ms}",
                *options,
                f"{output_flag}={output}",
                _url(page),
                scratch=Path(scratch),
            )
            if not output.is_file():
                raise BrowserFailed(self._failure(f"wrote no {name}", page, stderr))
            return output.read_bytes()

    def dom_without_scripts(self, page: Path) -> str:
        """The DOM of ``page`` loaded with scripts off, read over the DevTools pipe."""
        with tempfile.TemporaryDirectory(prefix="cjsim-browser-") as scratch:
            command = self._command(
                SCRIPTS_OFF_FLAG, "--remote-debugging-pipe", "about:blank", scratch=Path(scratch)
            )
            stderr = Path(scratch) / "stderr.txt"
            with _DevToolsPipe(command, self.timeout_s, stderr) as devtools:
                target = devtools.call("Target.createTarget", {"url": "about:blank"})
                session = devtools.call(
                    "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
                )["sessionId"]
                devtools.call("Page.enable", {}, session)
                navigated = devtools.call("Page.navigate", {"url": _url(page)}, session)
                if "errorText" in navigated:
                    raise BrowserFailed(f"{page}: could not be opened: {navigated['errorText']}")
                devtools.wait(
                    lambda m: (
                        m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session
                    )
                )
                root = devtools.call("DOM.getDocument", {"depth": -1}, session)["root"]
                outer = devtools.call("DOM.getOuterHTML", {"nodeId": root["nodeId"]}, session)
                html: str = outer["outerHTML"]
                return html

    def _command(self, *arguments: str, scratch: Path) -> list[str]:
        return [
            str(self.binary),
            *COMMON_FLAGS,
            f"--user-data-dir={scratch / 'profile'}",
            *arguments,
        ]

    def _run(self, *arguments: str, scratch: Path) -> tuple[str, str]:
        command = self._command(*arguments, scratch=scratch)
        # A session of its own, so that a browser out of time is stopped with all its children.
        with subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                _stop(process)
                _, stderr = process.communicate()
                raise BrowserFailed(
                    _described(command, f"ran out of its {self.timeout_s} s", stderr)
                ) from None
        if process.returncode != 0:
            raise BrowserFailed(_described(command, f"exited {process.returncode}", stderr))
        return stdout, stderr

    def _failure(self, what: str, page: Path, stderr: str) -> str:
        return _described([str(self.binary), _url(page)], what, stderr)


def _url(page: Path) -> str:
    return page.resolve().as_uri()


def _stop(process: subprocess.Popen[Any]) -> None:
    """Kill the browser's process group (the session started for it), if it is still there."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _described(command: Sequence[str], what: str, stderr: str) -> str:
    tail = "\n".join(
        line
        for line in stderr.splitlines()
        if "dbus" not in line  # no D-Bus in a container
    ).splitlines()[-STDERR_TAIL_LINES:]
    return f"chromium {what}: {' '.join(command)}\n" + "\n".join(tail)


class _DevToolsPipe:
    """The DevTools protocol over ``--remote-debugging-pipe``: the browser reads commands from
    its fd 3 and writes answers and events to its fd 4, each message JSON ending in NUL."""

    def __init__(self, command: list[str], timeout_s: float, stderr: Path) -> None:
        self._command = command
        self._stderr = stderr
        self._deadline = time.monotonic() + timeout_s
        self._timeout_s = timeout_s
        self._buffer = b""
        self._next_id = 0

    def __enter__(self) -> _DevToolsPipe:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def as_fds_3_and_4() -> None:  # in the child, before exec
            # Duplicates first: a pipe end may already sit on fd 3 or 4, and dup2 onto a
            # different number is what clears close-on-exec.
            read_end, write_end = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        # The browser's stderr goes to a file: a pipe nobody reads would fill and stall it.
        with self._stderr.open("wb") as log:
            self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                close_fds=False,
                preexec_fn=as_fds_3_and_4,  # no threads start browsers here
                start_new_session=True,
            )
        os.close(to_browser_read)
        os.close(from_browser_write)
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(BrowserFailed, OSError):  # it may close before it answers
            self.call("Browser.close")
        os.close(self._to_browser)
        os.close(self._from_browser)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _stop(self._process)
            self._process.wait()

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        """Send one command and return its result; a protocol error raises ``BrowserFailed``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        number = self._next_id
        answer = self.wait(lambda m: m.get("id") == number)
        if "error" in answer:
            raise BrowserFailed(f"DevTools {method}: {answer['error']}")
        return answer.get("result", {})

    def wait(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read messages until one is ``wanted`` (the rest are dropped), within the deadline."""
        while True:
            for message in self._messages():
                if wanted(message):
                    return message
            left_s = self._deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, left_s))
            if not ready:
                raise BrowserFailed(
                    f"chromium ran out of its {self._timeout_s} s: {' '.join(self._command)}"
                )
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserFailed(f"chromium closed the DevTools pipe: {' '.join(self._command)}")
            self._buffer += chunk

    def _messages(self) -> Iterator[dict[str, Any]]:
        while b"\0" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\0", 1)
            yield json.loads(raw)


def find_chromium() -> Path:
    """The Chromium binary: ``$CJSIM_CHROMIUM``, else ``chromium`` on ``PATH``."""
    configured = os.environ.get(ENV_BINARY)
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BrowserUnavailable(f"{ENV_BINARY}={configured} is not an executable file")
        return path
    found = shutil.which("chromium")
    if found is None:
        raise BrowserUnavailable(
            f"no `chromium` on PATH and {ENV_BINARY} not set (Debian: apt-get install chromium)"
        )
    return Path(found)


def chromium() -> Browser:
    """The browser for a test; skips the test without one, and fails it under ``CI``."""
    try:
        return Browser(find_chromium())
    except BrowserUnavailable as unavailable:
        reason = f"no browser for the HTML page tests: {unavailable}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (under CI the browser tests must run)", pytrace=False)
        pytest.skip(reason)


def assert_clean(visit: Visit) -> None:
    """Nothing written to the console (Chromium shows every level alike, so any line counts)
    and no request for the network."""
    assert visit.console == (), "console:\n" + "\n".join(map(str, visit.console))
    assert visit.requests == (), f"network requests: {visit.requests}"
