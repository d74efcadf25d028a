"""The pieces of the smoke test (deploy/smoke/smoke.py) that stand the deployment up: the
deploy files read and adapted to this run, the wheel installed, the machine's services, and the
processes started and always stopped."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
# Written in the deploy files and replaced for this run.
INSTALLED_BIN = "/opt/lifelong/venv/bin/"
STATE_DIR = "/var/lib/lifelong"
ENV_FILE = "/etc/lifelong/lifelong.env"
APP_PORT = "8000"
SERVER_NAME = "crm.example.ru"
NOT_SOURCE = (
    ".git",
    ".venv",
    "var",
    "build",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
)


class SmokeFailed(Exception):
    pass


def check(condition: object, what: str) -> None:
    if not condition:
        raise SmokeFailed(what)
    print(f"  ok  {what}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], bool], *, seconds: float, alive: Callable[[], None]):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive()
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SmokeFailed(f"timed out after {seconds:.0f} s waiting for {what}")


def run(argv: list[str], *, env: dict[str, str] | None = None, **kwargs) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, **kwargs)
    if done.returncode != 0:
        raise SmokeFailed(f"{shlex.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return done.stdout


# -- processes -------------------------------------------------------------------------------


@dataclass
class Processes:
    logs: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        # Its own process group, so stopping it stops its children (Celery's pool) too.
        self.running[name] = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        print(f"  started {name}: {shlex.join(argv)}", flush=True)

    def alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise SmokeFailed(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, name: str) -> None:
        process = self.running.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            with contextlib.suppress(ProcessLookupError):
                self.stop(name)


# -- what the deploy files say ---------------------------------------------------------------


def replaced(text: str, replacements: dict[str, str], source: str) -> str:
    for old, new in replacements.items():
        if old not in text:
            raise SmokeFailed(f"{source} no longer contains {old!r}: update the smoke test")
        text = text.replace(old, new)
    return text


def environment_file(values: dict[str, str]) -> dict[str, str]:
    """deploy/lifelong.env.example with this run's values; each one it sets must be there."""
    example = DEPLOY / "lifelong.env.example"
    env: dict[str, str] = {}
    for line in example.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    missing = sorted(set(values) - set(env))
    if missing:
        raise SmokeFailed(f"{example.name} lacks {missing}: update the smoke test or the example")
    return env | values


def unit_command(unit: str, *, bin_dir: Path, state_dir: Path, app_port: int) -> list[str]:
    """The ExecStart of a unit file, for this run's venv, state directory and port."""
    path = DEPLOY / "systemd" / f"{unit}.service"
    lines = dict(
        line.split("=", 1) for line in path.read_text().splitlines() if re.match(r"^\w+=", line)
    )
    if lines.get("EnvironmentFile") != ENV_FILE or lines.get("WorkingDirectory") != STATE_DIR:
        raise SmokeFailed(f"{path.name}: EnvironmentFile or WorkingDirectory moved")
    command = replaced(lines["ExecStart"], {INSTALLED_BIN: f"{bin_dir}/"}, path.name)
    if unit == "lifelong-web":
        command = replaced(command, {f"--port {APP_PORT}": f"--port {app_port}"}, path.name)
    return shlex.split(command)


def nginx_config(tmp: Path, *, https_port: int, http_port: int, app_port: int, static: Path):
    site = replaced(
        (DEPLOY / "nginx" / "lifelong.conf").read_text(),
        {
            f"server 127.0.0.1:{APP_PORT};": f"server 127.0.0.1:{app_port};",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen [::]:80;\n": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "listen [::]:443 ssl http2;\n": "",
            f"/etc/letsencrypt/live/{SERVER_NAME}/fullchain.pem": str(tmp / "tls" / "cert.pem"),
            f"/etc/letsencrypt/live/{SERVER_NAME}/privkey.pem": str(tmp / "tls" / "key.pem"),
            f"alias {STATE_DIR}/static/;": f"alias {static}/;",
            f"server_name {SERVER_NAME};": "server_name 127.0.0.1;",
        },
        "lifelong.conf",
    )
    (tmp / "nginx").mkdir()
    (tmp / "nginx" / "site.conf").write_text(site)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp}/nginx/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # Only the wrapper is the smoke test's own: what a Debian nginx.conf has around a site.
    (tmp / "nginx" / "nginx.conf").write_text(
        f"""user root;
worker_processes 1;
pid {tmp}/nginx/nginx.pid;
error_log {tmp}/logs/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp}/logs/nginx-access.log;
{temp_paths}
    include {tmp}/nginx/site.conf;
}}
"""
    )
    return tmp / "nginx" / "nginx.conf"


# -- the installation ------------------------------------------------------------------------


def wheel_install(tmp: Path) -> Path:
    """Build the wheel, check it ships no tests, install it into a venv of its own.

    The dependencies come from the checkout's venv (a path file), so nothing is downloaded
    but the build backend; the code that runs is the wheel's.
    """
    # Built from a copy: a build/ left in the checkout would slip stale files into the wheel.
    source = tmp / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    dist = tmp / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)])
    (wheel,) = dist.glob("lifelong-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    test_files = [
        n for n in names if "/tests/" in n or n in {"lifelong/conftest.py", "lifelong/factories.py"}
    ]
    check(not test_files, f"the wheel ships no tests ({len(names)} files)")
    check(any(".dist-info/" in n and n.endswith("/LICENSE") for n in names), "it carries LICENSE")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    site = Path(
        run(
            [str(venv / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"]
        ).strip()
    )
    deps = run(
        [
            sys.executable,
            "-c",
            "import django, os; print(os.path.dirname(os.path.dirname(django.__file__)))",
        ]
    )
    (site / "lifelong-smoke-deps.pth").write_text(deps.strip() + "\n")
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)])
    # Not from the checkout: there `import lifelong` would find the source tree first.
    where = run(
        [str(venv / "bin" / "python"), "-c", "import lifelong; print(lifelong.__file__)"], cwd=tmp
    )
    check(where.startswith(str(site)), f"lifelong runs from the wheel ({where.strip()})")
    state = run(
        [str(venv / "bin" / "python"), "-c", "import lifelong.settings as s; print(s.VAR_DIR)"],
        cwd=tmp,
        # A database URL, so that reading the settings makes no SQLite directory.
        env={"PATH": os.environ["PATH"], "LIFELONG_DATABASE_URL": "postgresql://x@127.0.0.1/x"},
    ).strip()
    check(not state.startswith(str(site)), f"its default state directory is {state}")
    return venv / "bin"


def self_signed_certificate(tls: Path) -> Path:
    tls.mkdir()
    run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem"),
        ]
    )  # fmt: skip
    return tls / "cert.pem"


@dataclass
class Services:
    """The machine's PostgreSQL, RabbitMQ and Redis, with a database and vhost of our own."""

    postgres: str
    database: str
    redis_db: int

    @property
    def restored(self) -> str:
        return f"{self.database}_restored"

    def url(self, database: str) -> str:
        return f"{self.postgres}/{database}"

    def psql(self, sql: str) -> None:
        run(["psql", "-q", "-v", "ON_ERROR_STOP=1", self.url("postgres"), "-c", sql])

    def create(self) -> None:
        self.drop()
        self.psql(f'CREATE DATABASE "{self.database}"')
        self.psql(f'CREATE DATABASE "{self.restored}"')
        run(["rabbitmqctl", "-q", "add_vhost", self.database])
        run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", self.database, "guest", ".*", ".*", ".*"]
        )
        self.redis_flush()

    def drop(self) -> None:
        for name in (self.database, self.restored):
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        subprocess.run(
            ["rabbitmqctl", "-q", "delete_vhost", self.database],
            capture_output=True,
            check=False,
            timeout=120,
        )
        self.redis_flush()

    def redis_flush(self) -> None:
        subprocess.run(
            ["redis-cli", "-n", str(self.redis_db), "flushdb"],
            capture_output=True,
            check=False,
            timeout=30,
        )
