"""`julia optout`, `julia titular exportar|apagar` and `julia token`: the LGPD tools and the
dashboard token, from the terminal.

Each prints its result on stdout (the export is the JSON itself, so it can be redirected to
a file); logs go to stderr. The LGPD commands are recorded in `lgpd_audit` with the login
name of whoever ran them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from app.cli.common import CommandError, run_in_transaction
from app.core.config import Settings
from app.core.db import Conn

ROLES = ("viewer", "operator")
MAX_TOKEN_DAYS = 365


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_TOKEN_DAYS:
        raise argparse.ArgumentTypeError(f"de 1 a {MAX_TOKEN_DAYS} dias: {text!r}")
    return int(text)


def cmd_optout(settings: Settings, args: argparse.Namespace) -> int:
    from app.domain.operations.commands import format_phone
    from app.domain.privacy import service as privacy

    async def work(conn: Conn, resolved: Settings) -> privacy.OptOut:
        return await privacy.record_opt_out(
            conn, args.phone, via="cli", operator=_login(), now=datetime.now(UTC)
        )

    try:
        result = run_in_transaction(settings, work)
    except privacy.InvalidPhone as exc:
        raise CommandError(str(exc)) from exc
    shown = format_phone(result.phone)
    if not result.found:
        print(f"Opt-out registrado para {shown} (número fora da base: fica só na supressão).")
    elif result.newly:
        print(f"Opt-out registrado para {shown}; a fila desse médico foi cancelada.")
    else:
        print(f"{shown} já estava com opt-out; nada mudou.")
    return 0


def cmd_titular(settings: Settings, args: argparse.Namespace) -> int:
    from app.domain.operations.commands import format_phone
    from app.domain.privacy import service as privacy

    now = datetime.now(UTC)
    try:
        if args.action == "exportar":

            async def export(conn: Conn, resolved: Settings) -> dict[str, Any]:
                return await privacy.export_subject(
                    conn, args.phone, via="cli", operator=_login(), now=now
                )

            data = run_in_transaction(settings, export)
            text = json.dumps(data, ensure_ascii=False, indent=2)
            if args.saida:
                with open(args.saida, "w", encoding="utf-8") as out:
                    out.write(text + "\n")
                print(f"Exportação de {format_phone(data['telefone'])} gravada em {args.saida}.")
            else:
                print(text)
            return 0
        if not args.confirmar:
            raise CommandError(
                "apagar não tem volta: repita com --confirmar "
                "(exporte antes, se o titular pediu uma cópia)"
            )

        async def erase(conn: Conn, resolved: Settings) -> privacy.Erasure:
            return await privacy.erase_subject(
                conn, args.phone, via="cli", operator=_login(), now=now
            )

        result = run_in_transaction(settings, erase)
    except privacy.InvalidPhone as exc:
        raise CommandError(str(exc)) from exc
    shown = format_phone(result.phone)
    if not result.found:
        print(f"Nenhum médico com {shown}; o número ficou na lista de supressão.")
        return 0
    counts = ", ".join(f"{table}: {n}" for table, n in result.erased.items() if n)
    print(f"Dados de {shown} apagados ({counts}).")
    print("Ficou só o registro de supressão: esse número nunca mais recebe mensagem.")
    return 0


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    import jwt

    if settings.JWT_SECRET_KEY is None:
        raise CommandError("JWT_SECRET_KEY não está definido: o painel não aceita tokens")
    name = " ".join(args.operador.split())
    if not name or len(name) > 200:
        raise CommandError("--operador precisa de um nome (até 200 caracteres)")
    now = datetime.now(UTC)
    expires = now + timedelta(days=args.dias)
    token = jwt.encode(
        {"sub": name, "role": args.papel, "iat": now, "exp": expires},
        settings.JWT_SECRET_KEY.get_secret_value(),
        algorithm="HS256",
    )
    print(token)
    print(
        f"token de {args.papel} para {name}, válido até {expires:%Y-%m-%d %H:%M} UTC",
        file=sys.stderr,
    )
    return 0


def add_parsers(sub: Any) -> None:
    """The `optout`, `titular` and `token` subcommands on the `julia` parser."""
    opt = sub.add_parser("optout", help="record a doctor's opt-out (LGPD): never contacted again")
    opt.add_argument("phone", help="the number, e.g. '+55 11 98700-1122' or 11987001122")
    opt.set_defaults(func=cmd_optout)

    tit = sub.add_parser("titular", help="data-subject rights (LGPD): export or erase a doctor")
    tit_sub = tit.add_subparsers(dest="action", required=True)
    exp = tit_sub.add_parser("exportar", help="print everything held about the number (JSON)")
    exp.add_argument("phone", help="the doctor's number")
    exp.add_argument("--saida", help="write the JSON to this file instead of stdout")
    exp.set_defaults(func=cmd_titular)
    era = tit_sub.add_parser(
        "apagar", help="erase everything about the number; keeps only its suppression record"
    )
    era.add_argument("phone", help="the doctor's number")
    era.add_argument("--confirmar", action="store_true", help="required: erasure is final")
    era.set_defaults(func=cmd_titular)

    tok = sub.add_parser("token", help="mint a dashboard token (JWT) for an operator")
    tok.add_argument("--operador", required=True, help="who (recorded as the change's author)")
    tok.add_argument("--papel", required=True, choices=ROLES, help="viewer reads; operator acts")
    tok.add_argument(
        "--dias", type=_days, default=7, help=f"validity in days (default 7, max {MAX_TOKEN_DAYS})"
    )
    tok.set_defaults(func=cmd_token)
