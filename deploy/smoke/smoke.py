"""The deployment in deploy/, started for real on this machine and checked end to end.

What runs is what an operator installs: the wheel built from this checkout in a venv of its
own, the commands of deploy/systemd/*.service (their ExecStart lines, with the ports and paths
of this run) under deploy/lifelong.env.example turned into an environment file, and Debian's
nginx with deploy/nginx/lifelong.conf and a self-signed certificate. PostgreSQL and RabbitMQ are
the machine's (a database and a vhost of this run's own), a Celery worker and beat run the
sweeps, and a local SMTP server (aiosmtpd) writes what it receives to a Maildir.

Then, through HTTPS from another loopback address than the proxy's: /healthz, HSTS, secure
cookies, CSRF, a static file, sign-in (the audit log must name the client, not the proxy), an
API key made on the Staff page, the SMTP channel set on the Channels page, a customer, a consent
and an order through the API, and the welcome journey's email arriving over SMTP through
beat, RabbitMQ and the worker. Last, the backup procedure of docs/deployment.md: a dump,
restored into a fresh database, served by a new web process that shows the order.

Every process is stopped, and the database and vhost dropped, whatever happens. Run it with
`make smoke` (as root in CI, whose .ci/run calls it); SMOKE_DATABASE, SMOKE_REDIS_DB and
SMOKE_POSTGRES name what it may use; SMOKE_KEEP=1 keeps the databases of a failed run.
"""

from __future__ import annotations

import base64
import http.client
import json
import mailbox
import os
import re
import secrets
import shutil
import signal
import ssl
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from pathlib import Path

from topology import (
    Processes,
    Services,
    SmokeFailed,
    check,
    environment_file,
    free_port,
    nginx_config,
    run,
    self_signed_certificate,
    unit_command,
    wait_for,
    wheel_install,
)

UNITS = ("lifelong-web", "lifelong-worker", "lifelong-beat")
CLIENT_ADDRESS = "127.0.0.2"  # the browser; nginx reaches the app from 127.0.0.1
OWNER = "owner"
OWNER_PASSWORD = "smoke-" + secrets.token_urlsafe(12)
CUSTOMER_EMAIL = "olga@example.ru"
MAIL_WAIT_SECONDS = 120

# -- HTTPS as a browser and an integrator ----------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def cookie(self, name: str) -> str | None:
        """The whole Set-Cookie line for `name`."""
        for line in self.headers.get_all("Set-Cookie") or []:
            if line.strip().startswith(f"{name}="):
                return line.strip()
        return None


@dataclass
class Browser:
    port: int
    tls: ssl.SSLContext
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.tls, timeout=30,
            source_address=(CLIENT_ADDRESS, 0),
        )  # fmt: skip
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body or None, headers=sent)
            raw = connection.getresponse()
            response = Response(raw.status, raw.headers, raw.read())
        finally:
            connection.close()
        for line in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.strip().partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post_form(self, path: str, fields: list[tuple[str, str]], *, token: bool = True):
        if token:
            fields = [*fields, ("csrfmiddlewaretoken", self.cookies["csrftoken"])]
        return self.request(
            "POST",
            path,
            body=urllib.parse.urlencode(fields).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": self.origin,
                "Referer": f"{self.origin}{path}",
            },
        )


def healthy(response: Response) -> bool:
    """/healthz says ok (it may say more: each part's state)."""
    return response.status == 200 and json.loads(response.body).get("status") == "ok"


def api(browser: Browser, key: str, method: str, path: str, payload: dict) -> Response:
    return browser.request(
        method,
        f"/api/v1{path}",
        body=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


# -- the run ---------------------------------------------------------------------------------


JOURNEY_SETUP = """
import datetime as dt
from lifelong.journeys.library import library_install
from lifelong.journeys.models import JourneyStatus
from lifelong.journeys.reactor import journeys_react
from lifelong.journeys.services import journey_status_set, journey_version_save
from lifelong.messaging.models import SendingPolicy

journey = library_install("welcome")
# Everyone gets the mail (no holdout), at any hour (no quiet hours): the smoke test is no trial.
definition = {**journey.current_version.definition, "holdout_percent": 0}
journey_version_save(journey=journey, definition=definition)
journey_status_set(journey=journey, status=JourneyStatus.ACTIVE)
always = {"quiet_start": dt.time(0), "quiet_end": dt.time(0)}
SendingPolicy.objects.update_or_create(pk=1, defaults=always)
# The reactor's first run marks where it starts reading the event log (what came before is
# history); here that is now, not whenever beat first asks, which may be after the order.
journeys_react()
"""


def smoke(tmp: Path, processes: Processes, services: Services) -> None:
    print("== install: wheel, certificate, database, vhost", flush=True)
    bin_dir = wheel_install(tmp)
    cert = self_signed_certificate(tmp / "tls")
    services.create()
    app_port, https_port, http_port, smtp_port = (free_port() for _ in range(4))
    state = tmp / "var"
    state.mkdir()
    values = {
        "LIFELONG_SECRET_KEY": secrets.token_urlsafe(50),
        "LIFELONG_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "LIFELONG_ALLOWED_HOSTS": "127.0.0.1",
        "LIFELONG_SITE_URL": f"https://127.0.0.1:{https_port}",
        "LIFELONG_DATABASE_URL": services.url(services.database),
        "LIFELONG_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{services.database}",
        "LIFELONG_REDIS_URL": f"redis://127.0.0.1:6379/{services.redis_db}",
        "LIFELONG_VAR_DIR": str(state),
        "LIFELONG_EMAIL_HOST": "127.0.0.1",
        "LIFELONG_EMAIL_PORT": str(smtp_port),
        "LIFELONG_EMAIL_SECURITY": "none",
        "LIFELONG_EMAIL_USER": "",
        "LIFELONG_EMAIL_PASSWORD": "",
        "LIFELONG_EMAIL_FROM": "crm@example.ru",
    }
    settings = environment_file(values)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIFELONG_")}
    env = clean | settings
    lifelong = str(bin_dir / "lifelong")

    print("== install steps of docs/deployment.md", flush=True)
    run([lifelong, "migrate"], env=env, cwd=state)
    run(
        [lifelong, "createadmin", "--username", OWNER, "--password", OWNER_PASSWORD],
        env=env,
        cwd=state,
    )
    run([lifelong, "manage", "shell", "-c", JOURNEY_SETUP], env=env, cwd=state)

    print("== start: SMTP, the units, nginx", flush=True)
    maildir = tmp / "mail"
    processes.start(
        "smtp",
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        clean, tmp,
    )  # fmt: skip
    for unit in UNITS:
        command = unit_command(unit, bin_dir=bin_dir, state_dir=state, app_port=app_port)
        processes.start(unit, command, env, state)
    nginx = nginx_config(
        tmp, https_port=https_port, http_port=http_port, app_port=app_port, static=state / "static"
    )
    run(["nginx", "-t", "-q", "-c", str(nginx)])
    processes.start("nginx", ["nginx", "-c", str(nginx), "-g", "daemon off;"], clean, tmp)

    tls = ssl.create_default_context(cafile=str(cert))
    browser = Browser(port=https_port, tls=tls)
    wait_for(
        "/healthz through nginx to say ok",
        lambda: healthy(browser.get("/healthz")),
        seconds=120,
        alive=processes.alive,
    )

    print("== HTTPS checks", flush=True)
    health = browser.get("/healthz")
    check(healthy(health), "/healthz answers ok")
    hsts = health.headers.get("Strict-Transport-Security", "")
    check("max-age=31536000" in hsts, f"HSTS is sent ({hsts})")
    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    plain.request("GET", "/login/")
    redirect = plain.getresponse()
    check(
        redirect.status == 301 and redirect.headers["Location"].startswith("https://"),
        "plain HTTP is sent to HTTPS",
    )
    plain.close()
    login = browser.get("/login/")
    check(login.status == 200, "the sign-in page opens over HTTPS (no redirect loop)")
    csrf_cookie = login.cookie("csrftoken") or ""
    check("Secure" in csrf_cookie and "HttpOnly" in csrf_cookie, "the CSRF cookie is secure")
    refused = browser.post_form(
        "/login/", [("username", OWNER), ("password", OWNER_PASSWORD)], token=False
    )
    check(refused.status == 403, "a form posted without the CSRF token is refused")
    signed_in = browser.post_form("/login/", [("username", OWNER), ("password", OWNER_PASSWORD)])
    session = signed_in.cookie("sessionid") or ""
    check(
        signed_in.status == 302 and "Secure" in session and "HttpOnly" in session,
        "signed in; the session cookie is secure",
    )
    home = browser.get("/")
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', home.text)
    check(home.status == 200 and stylesheet, "the home page names its stylesheet")
    assert stylesheet is not None
    css = browser.get(stylesheet.group(1))
    check(
        css.status == 200
        and css.headers.get("Content-Type", "").startswith("text/css")
        and re.search(r"\.[0-9a-f]{12}\.css$", stylesheet.group(1)),
        f"the static file is served under its hashed name ({stylesheet.group(1)})",
    )
    audit = browser.get("/audit/")
    check(
        CLIENT_ADDRESS in audit.text,
        f"the audit log names the client {CLIENT_ADDRESS}, not the proxy",
    )

    print("== staff set-up through the pages", flush=True)
    created = browser.post_form(
        "/staff/api-keys/",
        [
            ("name", "shop"),
            ("scopes", "read"),
            ("scopes", "customers:write"),
            ("scopes", "orders:write"),
        ],
    )
    check(created.status == 302, "an API key is created on the Staff page")
    shown = re.search(r"\bll_[A-Za-z0-9_\-]{16,}", browser.get("/staff/").text)
    check(shown, "the new key's secret is shown once")
    assert shown is not None
    key = shown.group(0)
    # The set-up form's own fields, named transport__setting as the page names them.
    channel = browser.post_form(
        "/channels/email/",
        [
            ("transport", "smtp"),
            ("smtp__host", "127.0.0.1"),
            ("smtp__port", str(smtp_port)),
            ("smtp__security", "none"),
            ("smtp__from_email", "shop@example.ru"),
            ("config", "{}"),
            ("active", "on"),
            ("cap_count", "0"),
            ("cap_hours", "24"),
        ],
    )
    check(channel.status == 302, "the e-mail channel is set to the local SMTP server")

    print("== an order through the API, the email through the workers", flush=True)
    customer = api(
        browser, key, "PUT", "/customers/SMOKE-1", {"first_name": "Ольга", "email": CUSTOMER_EMAIL}
    )
    check(customer.status in (200, 201), f"customer upserted ({customer.status})")
    consent = api(
        browser,
        key,
        "POST",
        "/customers/SMOKE-1/consents",
        {"channel": "email", "purpose": "marketing", "granted": True},
    )
    check(consent.status in (200, 201), f"consent recorded ({consent.status})")
    placed = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    order = {
        "customer_external_id": "SMOKE-1",
        "total": "2490.00",
        "placed_at": placed,
        "status": "paid",
        "lines": [{"sku": "MAT-1", "quantity": 1, "price": "2490.00"}],
    }
    made = api(browser, key, "PUT", "/orders/SMOKE-O-1", order)
    check(made.status in (200, 201), f"order created ({made.status})")

    def mail_arrived() -> bool:
        return maildir.exists() and len(mailbox.Maildir(maildir, create=False)) > 0

    wait_for("the welcome email", mail_arrived, seconds=MAIL_WAIT_SECONDS, alive=processes.alive)
    (message,) = mailbox.Maildir(maildir, create=False)
    subject = str(make_header(decode_header(message["Subject"])))
    check(
        CUSTOMER_EMAIL in message["To"] and subject == "Спасибо, что выбрали нас",
        f"the welcome email arrived: {subject!r}",
    )
    check("lifelong.sweep" in processes.tail("lifelong-worker", 400), "the worker ran the sweeps")

    print("== backup and restore (docs/deployment.md)", flush=True)
    dump = tmp / "lifelong.dump"
    run(["pg_dump", "--format=custom", f"--file={dump}", services.url(services.database)])
    run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            f"--dbname={services.url(services.restored)}",
            str(dump),
        ]
    )
    restored_port = free_port()
    restored_env = env | {"LIFELONG_DATABASE_URL": services.url(services.restored)}
    command = unit_command("lifelong-web", bin_dir=bin_dir, state_dir=state, app_port=restored_port)
    processes.start("restored-web", command, restored_env, state)

    def restored_answers(path: str, headers: dict[str, str] | None = None) -> Response:
        # Straight to the app's port, saying what nginx would (this address is a trusted proxy).
        connection = http.client.HTTPConnection("127.0.0.1", restored_port, timeout=10)
        try:
            connection.request("GET", path, headers=headers or {})
            raw = connection.getresponse()
            return Response(raw.status, raw.headers, raw.read())
        finally:
            connection.close()

    wait_for(
        "the restored app",
        lambda: restored_answers("/healthz").status == 200,
        seconds=90,
        alive=processes.alive,
    )
    found = restored_answers(
        "/api/v1/orders/SMOKE-O-1",
        {"Authorization": f"Bearer {key}", "X-Forwarded-Proto": "https", "Host": "127.0.0.1"},
    )
    check(
        found.status == 200 and json.loads(found.body)["total"] == "2490.00",
        "the restored database serves the order",
    )


def main() -> int:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="lifelong-smoke-"))
    tmp.chmod(0o755)
    (tmp / "logs").mkdir()
    processes = Processes(logs=tmp / "logs")
    services = Services(
        postgres=os.environ.get("SMOKE_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        database=os.environ.get("SMOKE_DATABASE", "lifelong_smoke"),
        redis_db=int(os.environ.get("SMOKE_REDIS_DB", "3")),
    )
    # SIGTERM (CI's time limit) stops everything as an exception does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    failed = True
    try:
        smoke(tmp, processes, services)
        failed = False
    except SmokeFailed as exc:
        print(f"\nSMOKE TEST FAILED: {exc}", file=sys.stderr)
        for name in processes.running:
            print(f"\n--- {name} (last lines)\n{processes.tail(name)}", file=sys.stderr)
    finally:
        processes.stop_all()
        keep = failed and os.environ.get("SMOKE_KEEP") == "1"
        if not keep:
            services.drop()
        if failed:
            kept = f" and databases {services.database}, {services.restored}" if keep else ""
            print(f"logs kept in {tmp / 'logs'}{kept}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"smoke test {'failed' if failed else 'passed'} in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
