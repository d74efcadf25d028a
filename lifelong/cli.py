"""The `lifelong` command: one entry point for operators.

lifelong demo [--no-serve] [--customers N] [--seed S]
lifelong run [--host H] [--port P]
lifelong migrate               (its own step when LIFELONG_SCHEDULER=celery)
lifelong worker [--beat] [--queues Q,...]
lifelong beat
lifelong import customers|orders|products FILE [--dry-run]
lifelong simulate --days N    (the demo's database only)
lifelong createadmin [--username U] [--password P]   (asks for the password when left out)
lifelong reencrypt             (after changing LIFELONG_ENCRYPTION_KEY)
lifelong loyalty verify        (check the points ledger; exits 1 on any mismatch)
lifelong mail-log-reconcile LOG [--dry-run]   (unknown emails the mail server's log shows taken)
lifelong feedback tag FILE.csv [--scale nps|csat] [--evaluate [--min X]] [--staff NAMES]
lifelong feedback suggest FILE.csv [--min-count N]   (new themes from untagged comments)
lifelong manage ARGS...        (any Django management command)
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# pg_advisory_lock key held while migrating ("lifelong" in ASCII).
MIGRATION_LOCK_KEY = 0x6C6966656C6F6E67


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifelong.settings")
    import django
    from django.conf import settings

    from lifelong import clock

    django.setup()
    clock.offset_load(_clock_file(settings.VAR_DIR))


def _clock_file(var_dir: Path) -> Path:
    """Where `simulate` leaves its clock offset, beside the SQLite database."""
    return var_dir / "simulated-clock"


def _migrate() -> None:
    from django.conf import settings
    from django.core.management import call_command

    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    with _migration_lock():
        call_command("migrate", interactive=False, verbosity=0)


@contextmanager
def _migration_lock() -> Iterator[None]:
    """One migration at a time: on PostgreSQL a second node starting together waits for the
    first to finish, then finds nothing left to do. SQLite needs none: it serves one machine
    with one `lifelong run`."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK_KEY])


def cmd_migrate(args: argparse.Namespace) -> int:
    _migrate()
    print("lifelong: the database is up to date")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from django.conf import settings
    from django.core.management import call_command

    _simulated_clock_warn()
    # In the Celery mode several web nodes start at once; `lifelong migrate` is its own step.
    if settings.SCHEDULER == "embedded":
        _migrate()
    if settings.PRODUCTION:
        call_command("collectstatic", interactive=False, verbosity=0)
    serve(host=args.host, port=args.port)
    return 0


def _simulated_clock_warn() -> None:
    from django.conf import settings

    from lifelong import clock

    path = _clock_file(settings.VAR_DIR)
    if path.exists():
        print(
            f"lifelong: the clock runs {clock.offset()} ahead of real time, as `lifelong "
            f"simulate` left it in {path}; delete that file for real time",
            file=sys.stderr,
            flush=True,
        )


def serve(*, host: str, port: int) -> None:
    """Serve the web app with waitress and, in the embedded mode, the sweeps on a scheduler
    thread (never with LIFELONG_SCHEDULER=celery: beat and the workers run them)."""
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler

    from lifelong.jobs.schedule import EmbeddedScheduler
    from lifelong.wsgi import application, waitress_server

    embedded = settings.SCHEDULER == "embedded"
    scheduler = EmbeddedScheduler() if embedded else None
    if scheduler is not None:
        scheduler.start()
    app = application if settings.PRODUCTION else StaticFilesHandler(application)
    print(f"Lifelong is serving on http://{host}:{port}/  (Ctrl+C stops)", flush=True)
    try:
        waitress_server(app, host=host, port=port).run()
    finally:
        if scheduler is not None:
            scheduler.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    from lifelong.celery import app, worker_queues

    queues = args.queues or ",".join(worker_queues())
    argv = ["worker", "--loglevel=INFO", f"--concurrency={args.concurrency}", f"--queues={queues}"]
    if args.beat:
        argv.append("--beat")
    app.worker_main(argv)
    return 0


def cmd_beat(args: argparse.Namespace) -> int:
    from django.conf import settings

    from lifelong.celery import app

    # Beat's record of when each sweep last ran lives with the other state, not in the cwd.
    schedule = settings.VAR_DIR / "celerybeat-schedule"
    app.start(["beat", "--loglevel=INFO", f"--schedule={schedule}"])
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from lifelong.events.csv_import import import_file_cli

    _migrate()
    return import_file_cli(kind=args.kind, path=args.file, dry_run=args.dry_run)


def cmd_simulate(args: argparse.Namespace) -> int:
    from django.conf import settings

    from lifelong import clock
    from lifelong.demo.generator import DemoRefused, demo_database_check

    try:
        demo_database_check()
    except DemoRefused as exc:
        print(f"lifelong simulate: {exc}", file=sys.stderr)
        return 1
    _migrate()
    try:
        return _simulate_demo(days=args.days)
    finally:
        clock.offset_save(_clock_file(settings.VAR_DIR))


def _simulate_demo(*, days: int) -> int:
    """On the demo, synthetic customers react to what the journeys send them."""
    from lifelong import clock
    from lifelong.demo.loyalty_live import ledger_report
    from lifelong.demo.reactions import demo_simulate, journeys_report

    def progress(day: int, now: dt.datetime) -> None:
        print(f"\rday {day}/{days}  {now:%Y-%m-%d}", end="", flush=True)

    started = clock.now()
    simulation = demo_simulate(days=days, progress=progress)
    print("\ncustomers: " + ", ".join(f"{k} {v}" for k, v in sorted(simulation.tally.items())))
    for row in journeys_report():
        print("  " + "  ".join(f"{k} {v}" for k, v in row.items()))
    postings = ledger_report(since=started)
    print("points ledger: " + ", ".join(f"{k} {v}" for k, v in sorted(postings.items())))
    return _sweep_failures_report(simulation.failed_sweeps)


def _sweep_failures_report(failed: Counter[str]) -> int:
    """Name the sweeps that failed (their tracebacks are in the log); 1 if any did."""
    if not failed:
        return 0
    runs = ", ".join(f"{name} ({count}x)" for name, count in sorted(failed.items()))
    print(f"lifelong: some sweeps failed and the others went on: {runs}", file=sys.stderr)
    return 1


def cmd_createadmin(args: argparse.Namespace) -> int:
    from django.core.exceptions import ValidationError

    from lifelong.accounts.models import Role, User
    from lifelong.accounts.services import staff_user_create

    _migrate()
    if User.objects.filter(username=args.username).exists():
        print(f"user {args.username!r} already exists", file=sys.stderr)
        return 1
    # Asked for when not given: a password on the command line stays in the shell history.
    password = args.password or getpass.getpass("password: ")
    try:
        staff_user_create(username=args.username, password=password, role=Role.OWNER)
    except ValidationError as exc:
        for message in exc.messages:
            print(f"lifelong createadmin: {message}", file=sys.stderr)
        return 1
    print(f"created owner {args.username!r}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from django.conf import settings

    from lifelong import clock
    from lifelong.accounts.models import User
    from lifelong.demo.campaigns import demo_campaigns_write
    from lifelong.demo.generator import DemoRefused, demo_build, demo_refuse_foreign_data
    from lifelong.jobs import sweeps

    _migrate()
    try:
        demo_refuse_foreign_data()
        # A fresh demo's history ends today: forget an earlier simulation's clock.
        clock.offset_forget(_clock_file(settings.VAR_DIR))
        login = demo_build(customers=args.customers, seed=args.seed, progress=True)
    except DemoRefused as exc:
        print(f"lifelong demo: {exc}", file=sys.stderr)
        return 1
    # Apart from demo_build: a campaign's arms hash customer ids, which every build renews.
    # Before the sweeps, so the rollups and stages see the campaigns' orders.
    print("\nsending the demo's campaigns…", flush=True)
    demo_campaigns_write(owner=User.objects.get(username=login.username), seed=args.seed)
    # Stages, scores and dashboard rollups now, not an hour after the server starts.
    print("computing stages, scores and the dashboard…", flush=True)
    _sweep_failures_report(Counter(sweeps.run_all()))
    print(f"\nDemo is ready. Log in as {login.username} / {login.password}")
    if not args.no_serve:
        serve(host=args.host, port=args.port)
    return 0


def cmd_clv(args: argparse.Namespace) -> int:
    from lifelong.analytics.clv_command import clv_fit_main

    return clv_fit_main(args.extra)


def cmd_reencrypt(args: argparse.Namespace) -> int:
    from lifelong.lib.encryption import secrets_reencrypt

    print(f"re-encrypted {secrets_reencrypt()} rows with the current LIFELONG_ENCRYPTION_KEY")
    return 0


def cmd_mail_log_reconcile(args: argparse.Namespace) -> int:
    from lifelong.messaging.reconcile import reconcile_command

    return reconcile_command(args.log, dry_run=args.dry_run)


def cmd_loyalty_verify(args: argparse.Namespace) -> int:
    from lifelong.loyalty.verify import verify_command

    return verify_command()


def cmd_feedback_tag(args: argparse.Namespace) -> int:
    from lifelong.feedback.command import tag_command

    staff = [n for n in (args.staff or "").split(",") if n.strip()]
    return tag_command(
        Path(args.file),
        scale=args.scale,
        staff=staff,
        evaluate_labels=args.evaluate,
        minimum=args.min,
    )


def cmd_feedback_suggest(args: argparse.Namespace) -> int:
    from lifelong.feedback.command import suggest_command

    return suggest_command(Path(args.file), min_count=args.min_count)


def cmd_manage(args: argparse.Namespace) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["lifelong manage", *args.rest])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lifelong", description="Lifelong retention platform")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_serve_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)

    p = sub.add_parser("demo", help="build the demo shop and serve it")
    p.add_argument("--no-serve", action="store_true")
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--seed", type=int, default=42)
    add_serve_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="serve the web app with the embedded scheduler")
    add_serve_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("migrate", help="bring the database schema up to date")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("worker", help="run a Celery worker (distributed mode)")
    p.add_argument("--beat", action="store_true", help="also schedule the sweeps")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument(
        "--queues",
        help="comma-separated, e.g. sweep.segments.rfm_refresh (default: every sweep's queue)",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("beat", help="schedule the sweeps for the workers (distributed mode)")
    p.set_defaults(func=cmd_beat)

    p = sub.add_parser("import", help="import a CSV file")
    p.add_argument("kind", choices=["customers", "orders", "products"])
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "simulate", help="on the demo: move the clock forward, run due work and react"
    )
    p.add_argument("--days", type=int, required=True)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("createadmin", help="create an owner account")
    p.add_argument("--username", default="admin")
    p.add_argument("--password", help="asked for when left out")
    p.set_defaults(func=cmd_createadmin)

    p = sub.add_parser("clv", help="customer lifetime value models")
    clv_sub = p.add_subparsers(dest="clv_command", required=True)
    p = clv_sub.add_parser(
        "fit",
        help="fit BG/NBD and Gamma-Gamma to a transactions CSV",
        description="options: --transactions FILE.csv [--calibration-end YYYY-MM-DD]",
    )
    p.set_defaults(func=cmd_clv, takes_extra=True)

    p = sub.add_parser(
        "reencrypt", help="encrypt stored secrets again with the current encryption key"
    )
    p.set_defaults(func=cmd_reencrypt)

    p = sub.add_parser(
        "mail-log-reconcile",
        help="mark unknown emails sent where the mail server's log (Postfix) shows them taken",
    )
    p.add_argument("log", help="the mail log file, or - for standard input")
    p.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    p.set_defaults(func=cmd_mail_log_reconcile)

    p = sub.add_parser("loyalty", help="the points ledger")
    loyalty_sub = p.add_subparsers(dest="loyalty_command", required=True)
    p = loyalty_sub.add_parser(
        "verify", help="check every transaction and cached balance against the entries"
    )
    p.set_defaults(func=cmd_loyalty_verify)

    p = sub.add_parser("feedback", help="themes of customers' comments")
    feedback_sub = p.add_subparsers(dest="feedback_command", required=True)
    p = feedback_sub.add_parser(
        "tag", help="print each row's themes and sentiment as JSON lines (a column 'text')"
    )
    p.add_argument("file")
    p.add_argument("--scale", choices=["nps", "csat"], default="nps", help="of the score column")
    p.add_argument(
        "--staff", help='comma-separated staff names ("Ольга Петрова,Иван") instead of the users'
    )
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="compare with the hand labels in the columns 'themes' and 'sentiment'",
    )
    p.add_argument("--min", type=float, help="with --evaluate: exit 1 below this precision/recall")
    p.set_defaults(func=cmd_feedback_tag)
    p = feedback_sub.add_parser("suggest", help="suggest new themes from untagged comments")
    p.add_argument("file")
    p.add_argument("--min-count", type=int, default=3)
    p.set_defaults(func=cmd_feedback_suggest)

    p = sub.add_parser("manage", help="run a Django management command")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_manage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # `clv fit` parses its own options; every other command takes none it does not declare.
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    _setup()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
