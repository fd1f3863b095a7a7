"""`julia campaign ...` and `julia chips ...`: outreach from the terminal.

Each command opens one transaction on the database (embedded when DATABASE_URL is unset,
as the other commands do), calls the same domain functions the dashboard API calls, and
prints a short report in Portuguese.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time
from typing import Any, cast

from app.cli.common import CommandError, run_in_transaction
from app.core.config import Settings
from app.core.db import Conn


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        try:
            return datetime.strptime(text, "%d/%m/%Y").date()
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"data inválida: {text!r} (use AAAA-MM-DD ou DD/MM/AAAA)"
            ) from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"precisa ser um inteiro positivo: {text!r}")
    return int(text)


def cmd_campaign(settings: Settings, args: argparse.Namespace) -> int:
    from app.domain.outreach import admin, campaigns
    from app.domain.outreach import repository as repo

    now = datetime.now(UTC)
    action: str = args.action
    template = None
    if action == "create" and args.template_file:
        try:
            with open(args.template_file, encoding="utf-8") as f:
                template = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"não consegui ler o modelo: {exc}") from exc

    async def work(conn: Conn, resolved: Settings) -> str:
        if action == "list":
            return await _campaign_list(conn)
        if action == "create":
            spec = campaigns.CampaignSpec(
                name=args.name,
                kind=args.kind,
                specialties=args.specialty or [],
                regions=args.region or [],
                states=args.state or [],
                date_from=args.date_from,
                date_to=args.date_to,
                instructions=args.instructions,
                template=template,
                autonomous=args.autonomous,
                created_by="cli",
            )
            campaign = await campaigns.create(conn, spec, now=now, tz=resolved.tz)
            if args.start:
                await campaigns.start(conn, campaign.id, now=now)
            campaign_id = campaign.id
        else:
            campaign_id = args.id
            if action in campaigns.ACTIONS:
                await campaigns.change(conn, campaign_id, cast(campaigns.Action, action), now=now)
        progress = await repo.progress(conn, campaign_id)
        if progress is None:
            raise CommandError(f"campanha {campaign_id} não existe")
        return admin.progress_text(progress)

    try:
        print(run_in_transaction(settings, work))
    except campaigns.CampaignError as exc:
        raise CommandError(str(exc)) from exc
    return 0


async def _campaign_list(conn: Conn) -> str:
    from app.domain.dashboard.repository import list_campaigns

    listing = await list_campaigns(conn, limit=50, offset=0)
    if not listing.items:
        return "Nenhuma campanha. Crie uma com `julia campaign create`."
    header = f"{'id':>4}  {'status':<10} {'tipo':<11} {'alvos':>6} {'contat.':>7} {'resp.':>5}"
    lines = [header + "  nome"]
    for c in listing.items:
        name = c.name + (" (autônoma)" if c.autonomous else "")
        lines.append(
            f"{c.id:>4}  {c.status:<10} {c.kind:<11} {c.targets:>6} "
            f"{c.contacted:>7} {c.responded:>5}  {name}"
        )
    return "\n".join(lines)


def cmd_chips(settings: Settings, args: argparse.Namespace) -> int:
    from app.domain.outreach import admin

    now = datetime.now(UTC)
    action: str = args.action

    async def work(conn: Conn, resolved: Settings) -> str:
        if action == "add":
            warmup = None
            if not args.mature:
                since = args.warmup_from or now.astimezone(resolved.tz).date()
                warmup = datetime.combine(since, time(0), resolved.tz)
            _, new = await admin.add_chip(
                conn,
                args.instance,
                warmup_from=warmup,
                daily_limit=args.daily_limit,
                hourly_limit=args.hourly_limit,
            )
            if not new:
                print(f"{args.instance} já estava cadastrado: aquecimento mantido.")
        elif action in ("enable", "disable"):
            _, moved = await admin.set_enabled(conn, args.instance, action == "enable")
            if moved:
                print(f"{moved} médico(s) passarão a ouvir de outro chip na próxima mensagem.")
        elif action == "warmup":
            since = None if args.done else args.since or now.astimezone(resolved.tz).date()
            start = datetime.combine(since, time(0), resolved.tz) if since else None
            await admin.set_warmup(conn, args.instance, start)
        views = await admin.chip_views(conn, resolved, now=now)
        return admin.chips_text(views, resolved.tz)

    try:
        print(run_in_transaction(settings, work))
    except admin.ChipError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def add_parsers(sub: Any) -> None:
    """The `campaign` and `chips` subcommands on the `julia` parser."""
    camp = sub.add_parser("campaign", help="outreach campaigns: create, start, pause, progress")
    camp_sub = camp.add_subparsers(dest="action", required=True)
    create = camp_sub.add_parser("create", help="a draft campaign for the matching open shifts")
    create.add_argument("--name", required=True, help="shown to operators")
    create.add_argument(
        "--kind",
        default="oferta",
        choices=["oferta", "descoberta", "reativacao", "manual"],
        help="oferta: offers its shifts (default); descoberta: introduces Revoluna",
    )
    create.add_argument("--specialty", action="append", help="specialty name or alias (repeatable)")
    create.add_argument("--region", action="append", help="hospital region (repeatable)")
    create.add_argument("--state", action="append", help="UF, e.g. SP (repeatable)")
    create.add_argument("--from", dest="date_from", type=_day, help="first shift day")
    create.add_argument("--to", dest="date_to", type=_day, help="last shift day")
    create.add_argument("--instructions", help="the manager's note for Julia's replies")
    create.add_argument(
        "--template-file", help="opener template (placeholders: see docs/outreach.md)"
    )
    create.add_argument(
        "--autonomous",
        action="store_true",
        help="autonomous outreach: stands still under PILOT_MODE",
    )
    create.add_argument("--start", action="store_true", help="start it right away")
    camp_sub.add_parser("list", help="the newest campaigns with their numbers")
    for action, text in (
        ("show", "a campaign's progress"),
        ("start", "start a draft (selects the doctors) or a paused campaign"),
        ("pause", "pause: written messages wait"),
        ("resume", "resume a paused campaign"),
        ("cancel", "stop for good: unsent messages are cancelled"),
    ):
        p = camp_sub.add_parser(action, help=text)
        p.add_argument("id", type=_positive, help="campaign id")
    camp.set_defaults(func=cmd_campaign)

    chips = sub.add_parser("chips", help="WhatsApp numbers (Evolution instances) for outreach")
    chips_sub = chips.add_subparsers(dest="action", required=True)
    chips_sub.add_parser("list", help="every chip: state, today's sends and caps, doctors")
    add = chips_sub.add_parser("add", help="register an Evolution instance as a chip")
    add.add_argument("instance", help="the Evolution instance name")
    add.add_argument(
        "--warmup-from", type=_day, help="the number's first day (default today: it warms up)"
    )
    add.add_argument("--mature", action="store_true", help="an established number: no warm-up")
    add.add_argument("--daily-limit", type=_positive, help="below MAX_MSGS_POR_DIA for this chip")
    add.add_argument("--hourly-limit", type=_positive, help="below MAX_MSGS_POR_HORA")
    for action, text in (
        ("enable", "use the chip again (also lifts a bench)"),
        ("disable", "retire the chip: its doctors move to another one"),
    ):
        p = chips_sub.add_parser(action, help=text)
        p.add_argument("instance")
    warm = chips_sub.add_parser("warmup", help="restart or end a chip's warm-up")
    warm.add_argument("instance")
    warm.add_argument("--since", type=_day, help="warm-up start day (default today)")
    warm.add_argument("--done", action="store_true", help="the number is mature: full caps")
    chips.set_defaults(func=cmd_chips)
