"""A resolver for tests: chosen names answer chosen addresses, everything else resolves as usual.

Installed over `socket.getaddrinfo`, which both our guard and urllib3 call, so a second
lookup made anywhere shows up in `lookups`.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest


class FakeDns:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[Sequence[str]]] = {}
        self.lookups: Counter[str] = Counter()
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self._getaddrinfo)

    def add(self, name: str, *answers: Sequence[str]) -> None:
        """Each lookup of `name` takes the next answer (a list of addresses); the last repeats."""
        self.answers[name] = list(answers)

    def _getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in self.answers:
            return self._real(host, port, *args, **kwargs)
        self.lookups[host] += 1
        answers = self.answers[host]
        addresses = answers[min(self.lookups[host], len(answers)) - 1]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port or 0), 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
            for a in addresses
        ]
