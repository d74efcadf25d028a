"""An SMTP sink in its own process: accepts every message and appends its raw bytes to a file.

    python -m lifelong.messaging.tests.smtp_sink OUT_FILE [--delay SECONDS]

Prints the port it listens on (127.0.0.1) as its first line of output, then serves until
SIGTERM or SIGINT. Each message is written and flushed before DATA is answered, as
"<length>\\n<bytes>\\n", so what was accepted is on disk even if the sender is killed;
`--delay` answers DATA that much later (a slow server). Used by the dispatch crash test,
the composing test and bench/dispatch_bench.py, which read the file with `received()`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _Appender:
    def __init__(self, out: Path, delay: float) -> None:
        self.out = out.open("ab")
        self.delay = delay
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        content = bytes(envelope.original_content or envelope.content)
        with self.lock:
            self.out.write(b"%d\n" % len(content) + content + b"\n")
            self.out.flush()
        return "250 OK"


def received(path: Path) -> list[bytes]:
    """Every message the sink wrote to `path`, raw, in the order it accepted them."""
    data = path.read_bytes() if path.exists() else b""
    messages, at = [], 0
    while at < len(data):
        newline = data.index(b"\n", at)
        size = int(data[at:newline])
        messages.append(data[newline + 1 : newline + 1 + size])
        at = newline + 1 + size + 1
    return messages


def start(out: Path, *, delay: float = 0.0) -> tuple[subprocess.Popen[bytes], int]:
    """Run a sink process; returns it and its port. Stop it with stop()."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lifelong.messaging.tests.smtp_sink",
            str(out),
            "--delay",
            str(delay),
        ],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise RuntimeError("the SMTP sink did not start")
    return process, int(line)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the sink once it has written what it accepted; stopping twice is harmless."""
    if process.poll() is None:
        process.terminate()
    process.wait(30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    handler = _Appender(args.out, args.delay)
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), ready_timeout=30)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(controller.port, flush=True)
    while not done.wait(0.5):
        pass
    controller.stop()
    handler.out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
