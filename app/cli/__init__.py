"""The `julia` command (also `python -m app`): dev, migrate, and the operator commands."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from app.cli.common import CommandError, run_in_transaction
from app.cli.lgpd import add_parsers as add_lgpd_parsers
from app.cli.outreach import add_parsers as add_outreach_parsers
from app.core import db, migrations
from app.core.config import ConfigError, Settings, load_settings
from app.core.db import Conn
from app.core.embedded import embedded_defaults
from app.core.logging import configure_logging, get_logger
from app.domain import demo

log = get_logger("julia.cli")


async def _migrate(settings: Settings, *, seed_demo: bool = False) -> list[migrations.Migration]:
    """Apply pending migrations; with `seed_demo`, then add the demo set to an empty database."""
    conn = await db.connect(settings.database_dsn)
    try:
        applied = await migrations.migrate(conn)
        if seed_demo and await demo.seed_if_empty(conn, tz=settings.tz, today=datetime.now(UTC)):
            log.info("dev.demo_data.seeded")
        return applied
    finally:
        await conn.close()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    with embedded_defaults(settings, redis=False) as resolved:
        applied = asyncio.run(_migrate(resolved))
    if applied:
        print(f"Applied {len(applied)} migration(s): " + ", ".join(m.filename for m in applied))
    else:
        print("Database is up to date.")
    return 0


def _children(port: int) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "api": [py, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        "worker": [py, "-m", "app.workers.fila_worker"],
        "scheduler": [py, "-m", "app.workers.scheduler"],
    }


def _supervise(
    procs: dict[str, subprocess.Popen[bytes]], stop_requested: Callable[[], bool]
) -> int:
    """Wait until Ctrl-C or a child dies; then stop the rest. Returns the exit code."""
    code = 0
    while not stop_requested():
        dead = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
        if dead:
            for name, rc in dead.items():
                log.error("dev.process_exited", process=name, returncode=rc)
            code = 1
            break
        time.sleep(0.2)
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return code


def cmd_dev(settings: Settings, args: argparse.Namespace) -> int:
    if settings.is_production:
        raise CommandError("julia dev runs the local stack; it is not for production")
    port = args.port or settings.PORT
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    with embedded_defaults(settings) as resolved:
        asyncio.run(_migrate(resolved, seed_demo=True))
        env = {
            **os.environ,
            "ENVIRONMENT": resolved.environment,
            "DATABASE_URL": resolved.database_dsn,
            "REDIS_URL": resolved.redis_dsn,
            "PORT": str(port),
        }
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in _children(port).items()}
        log.info(
            "dev.started", api=f"http://127.0.0.1:{port}", pids={n: p.pid for n, p in procs.items()}
        )
        code = _supervise(procs, lambda: stopping)
    log.info("dev.stopped")
    return code


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    from app.cli.chat import ChatError, run_chat

    url = args.url or f"http://127.0.0.1:{settings.PORT}"
    try:
        return asyncio.run(run_chat(settings, url=url, phone=args.phone, name=args.name))
    except ChatError as exc:
        raise CommandError(str(exc)) from exc
    except KeyboardInterrupt:
        return 0


def _operator_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


async def _run_operator(settings: Settings, command: Any) -> str:
    from app.core.resources import open_resources
    from app.domain.operations.commands import run_command

    async with open_resources(settings) as res:
        reply: str = await run_command(res, command, user=_operator_name(), via="cli")
        return reply


def _print_operator_reply(settings: Settings, command: Any) -> int:
    """Run an operator command as the Slack one would and print its reply; an unreachable
    or unmigrated store is one clear line, not a traceback."""
    import asyncpg
    from redis.exceptions import RedisError

    with embedded_defaults(settings) as resolved:
        try:
            print(asyncio.run(_run_operator(resolved, command)))
        except asyncpg.UndefinedTableError as exc:
            raise CommandError("o banco não tem as tabelas da Julia; rode `julia migrate`") from exc
        except (OSError, asyncpg.PostgresError, RedisError) as exc:
            raise CommandError(
                f"não consegui falar com o Postgres/Redis ({type(exc).__name__}); "
                "confira DATABASE_URL e REDIS_URL"
            ) from exc
    return 0


def cmd_operator(settings: Settings, args: argparse.Namespace) -> int:
    """`julia status`, `julia pause --motivo TEXT`, `julia resume`: the Slack commands'
    actions, recorded with alterado_via 'cli'."""
    from app.domain.operations.commands import Command

    motivo = " ".join((getattr(args, "motivo", None) or "").split()) or None
    if args.command == "pause" and motivo is None:
        raise CommandError("informe o motivo: julia pause --motivo TEXTO")
    command = {
        "status": Command("status"),
        "pause": Command("pause", motivo=motivo),
        "resume": Command("resume", motivo=motivo),
    }[args.command]
    return _print_operator_reply(settings, command)


def cmd_reservation(settings: Settings, args: argparse.Namespace) -> int:
    """`julia reserva listar|confirmar CODIGO|liberar CODIGO --motivo TEXTO|realizado CODIGO|
    nao-ocorreu CODIGO`: the Slack commands of the reservation loop, recorded via 'cli'."""
    from app.domain.operations.commands import Command

    motivo = " ".join((getattr(args, "motivo", None) or "").split()) or None
    if args.action == "liberar" and motivo is None:
        raise CommandError("informe o motivo: julia reserva liberar CODIGO --motivo TEXTO")
    name = {
        "listar": "reservations",
        "confirmar": "confirm_reservation",
        "liberar": "release_reservation",
        "realizado": "shift_happened",
        "nao-ocorreu": "shift_missed",
    }[args.action]
    code = (getattr(args, "codigo", None) or "").strip().upper() or None
    command = Command(name, code=code, motivo=motivo)  # type: ignore[arg-type]
    return _print_operator_reply(settings, command)


def _add_reservation_parser(sub: Any) -> None:
    res = sub.add_parser("reserva", help="confirm, release or list shift reservations")
    actions = res.add_subparsers(dest="action", required=True)
    actions.add_parser("listar", help="pending reservations and confirmed shifts")
    for action, helptext in (
        ("confirmar", "confirm: the shift is the doctor's, Julia tells them"),
        ("liberar", "release: the shift reopens, Julia tells the doctor"),
        ("realizado", "the confirmed shift happened"),
        ("nao-ocorreu", "the confirmed shift did not happen"),
    ):
        parser = actions.add_parser(action, help=helptext)
        parser.add_argument("codigo", help="the reservation's code (as in Slack)")
        if action == "liberar":
            parser.add_argument("--motivo", required=True, help="why (kept on the reservation)")
    res.set_defaults(func=cmd_reservation)


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """`julia import doctors|hospitals|shifts FILE [--dry-run]`: upsert the CSV's rows and
    print what happened to each; 0 once the file was read, even with refused rows."""
    from pathlib import Path

    from app.domain.imports.service import ImportFileError, ImportReport, import_csv, report_text

    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"não consegui ler {path}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CommandError(
            f"{path.name} não está em UTF-8 (byte inválido na posição {exc.start}); "
            "no Excel, salve como 'CSV UTF-8'"
        ) from exc

    async def work(conn: Conn, resolved: Settings) -> ImportReport:
        return await import_csv(
            conn, args.kind, text, source=path.name, tz=resolved.tz, dry_run=args.dry_run
        )

    try:
        report = run_in_transaction(settings, work)
    except ImportFileError as exc:
        raise CommandError(f"{path.name}: {exc}; nada foi importado") from exc
    print(report_text(report, file_name=path.name))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="julia", description="Julia, Revoluna's recruiter.")
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="run api + worker + scheduler on embedded defaults")
    dev.add_argument("--port", type=int, default=None, help="API port (default PORT or 8000)")
    dev.set_defaults(func=cmd_dev)
    mig = sub.add_parser("migrate", help="apply pending database migrations")
    mig.set_defaults(func=cmd_migrate)
    chat = sub.add_parser("chat", help="talk to Julia as a doctor (needs `julia dev` running)")
    chat.add_argument("--phone", default="5511999990000", help="the doctor's number (E.164 digits)")
    chat.add_argument("--name", default="Dr. Teste", help="the doctor's WhatsApp name")
    chat.add_argument("--url", default=None, help="API base URL (default http://127.0.0.1:PORT)")
    chat.set_defaults(func=cmd_chat)
    st = sub.add_parser("status", help="show whether Julia is ativa or pausada, and why")
    st.set_defaults(func=cmd_operator)
    pause = sub.add_parser("pause", help="pause every message to doctors (julia_status)")
    pause.add_argument("--motivo", required=True, help="why (kept in julia_status)")
    pause.set_defaults(func=cmd_operator)
    resume = sub.add_parser("resume", help="resume and answer the doctors who waited")
    resume.add_argument("--motivo", default=None, help="optional note for julia_status")
    resume.set_defaults(func=cmd_operator)
    imp = sub.add_parser("import", help="import doctors, hospitals or shifts from a CSV file")
    imp.add_argument("kind", choices=["doctors", "hospitals", "shifts"], help="what the file has")
    imp.add_argument("file", help="CSV file (UTF-8; ',' or ';' between columns)")
    imp.add_argument(
        "--dry-run", action="store_true", help="check and report without writing anything"
    )
    imp.set_defaults(func=cmd_import)
    add_outreach_parsers(sub)
    add_lgpd_parsers(sub)
    _add_reservation_parser(sub)
    return parser


# Commands that run services in the foreground: their logs are what the operator watches.
_LOGGING_COMMANDS = frozenset({"dev"})


def _verbosity(argv: Sequence[str]) -> tuple[list[str], int]:
    """`-v`/`--verbose` (or `-vv`) anywhere on the line: logs on stderr at INFO (DEBUG)."""
    rest, verbose = [], 0
    for arg in argv:
        if arg in ("-v", "--verbose"):
            verbose += 1
        elif arg == "-vv":
            verbose += 2
        else:
            rest.append(arg)
    return rest, verbose


def main(argv: Sequence[str] | None = None) -> None:
    argv, verbose = _verbosity(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    parser.epilog = "-v / --verbose: show logs on stderr (-vv: debug)."
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        # A command prints its result on stdout; logs go to stderr, warnings only unless -v.
        level = "DEBUG" if verbose > 1 else "INFO" if verbose else "WARNING"
        if args.command in _LOGGING_COMMANDS and not verbose:
            level = settings.LOG_LEVEL
        configure_logging(settings, service=f"cli.{args.command}", stream=sys.stderr, level=level)
        code = args.func(settings, args)
    except (ConfigError, migrations.MigrationError, CommandError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        code = 1
    raise SystemExit(code)
