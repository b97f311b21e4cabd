"""What the night shift is told: the notification block and the automations that use it.

    # once: the ICS's channel, its address read from the environment (never typed on a
    # command line, never in the repository)
    DIEWELL_TEAMS_WEBHOOK_URL='https://...' python -m diewell.flows.automations teams diewell-night-shift
    # then, and after every change to automations.yaml
    python -m diewell.flows.automations apply --block ms-teams-webhook/diewell-night-shift

`apply` reads automations.yaml (beside prefect.yaml), puts the block's id in each
`send-notification` action and replaces the automations of the same names on the Prefect
server at PREFECT_API_URL. Any Prefect notification block may be named: a Microsoft Teams
webhook (`teams` here), SendGrid e-mail (`email` here), or one made in the Prefect UI.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from prefect.blocks.notifications import MicrosoftTeamsWebhook, SendgridEmail
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore, Posture
from prefect.exceptions import ObjectNotFound

from diewell import settings

AUTOMATIONS_YAML = Path(__file__).resolve().parents[1] / "automations.yaml"
BLOCK_PLACEHOLDER = "{{ notification_block }}"
TEAMS_URL_ENV = settings.TEAMS_WEBHOOK_URL
SENDGRID_KEY_ENV = settings.SENDGRID_API_KEY


def automations(
    block_id: UUID,
    *,
    late_window: timedelta | None = None,
    path: Path = AUTOMATIONS_YAML,
) -> list[AutomationCore]:
    """automations.yaml's automations, notifying the block `block_id`.

    `late_window` replaces the window of the proactive (not completed in time) trigger: for
    tests, which cannot wait 4 h 30 min.
    """
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    made = []
    for entry in spec["automations"]:
        entry = dict(entry)
        entry["actions"] = [_with_block(action, block_id) for action in entry["actions"]]
        if late_window is not None and entry["trigger"].get("posture") == Posture.Proactive:
            entry["trigger"] = {**entry["trigger"], "within": late_window.total_seconds()}
        made.append(AutomationCore.model_validate(entry))
    return made


def _with_block(action: dict[str, Any], block_id: UUID) -> dict[str, Any]:
    if action.get("block_document_id") == BLOCK_PLACEHOLDER:
        return {**action, "block_document_id": str(block_id)}
    return action


def apply(
    block: str, *, late_window: timedelta | None = None, path: Path = AUTOMATIONS_YAML
) -> list[tuple[str, UUID]]:
    """Create the automations on the server, replacing those of the same names.

    `block` is the notification block as `<block type slug>/<name>`, for example
    `ms-teams-webhook/diewell-night-shift`.
    """
    slug, _, name = block.partition("/")
    if not slug or not name:
        raise ValueError(f"--block must be <block type>/<name>, not {block!r}")
    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name, slug)
        except ObjectNotFound:
            raise ValueError(
                f"no notification block {block!r} on this Prefect server: make it first "
                "(python -m diewell.flows.automations teams|email NAME, or in the Prefect UI)"
            ) from None
        applied = []
        for automation in automations(document.id, late_window=late_window, path=path):
            for existing in client.read_automations_by_name(automation.name):
                client.delete_automation(existing.id)
            applied.append((automation.name, client.create_automation(automation)))
    return applied


def _secret_from_env(variable: str) -> str:
    value = settings.text(variable) or ""
    if not value:
        raise ValueError(f"set {variable} in this shell first (it is not stored anywhere else)")
    return value


def save_teams_block(name: str) -> str:
    """A Microsoft Teams (Power Automate workflow) webhook block, its URL from the environment."""
    MicrosoftTeamsWebhook(url=_secret_from_env(TEAMS_URL_ENV)).save(name, overwrite=True)
    return f"{MicrosoftTeamsWebhook.get_block_type_slug()}/{name}"


def save_email_block(name: str, sender: str, to: list[str]) -> str:
    """A SendGrid e-mail block, its API key from the environment."""
    SendgridEmail(
        api_key=_secret_from_env(SENDGRID_KEY_ENV), sender_email=sender, to_emails=to
    ).save(name, overwrite=True)
    return f"{SendgridEmail.get_block_type_slug()}/{name}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diewell.flows.automations",
        description="The night shift's notifications: the block, then the automations.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "apply",
        help="create or replace automations.yaml's automations on the Prefect server",
        description="Example: python -m diewell.flows.automations apply "
        "--block ms-teams-webhook/diewell-night-shift",
    )
    p.add_argument("--block", required=True, help="the notification block, <type>/<name>")
    p.add_argument(
        "--late-window-seconds",
        type=float,
        help="the not-completed-in-time window instead of automations.yaml's (for tests)",
    )
    p = sub.add_parser(
        "teams",
        help=f"save a Microsoft Teams webhook block, its URL from ${TEAMS_URL_ENV}",
        description=f"Example: {TEAMS_URL_ENV}='https://...' python -m diewell.flows.automations "
        "teams diewell-night-shift",
    )
    p.add_argument("name", help="the block's name, for example diewell-night-shift")
    p = sub.add_parser(
        "email",
        help=f"save a SendGrid e-mail block, its API key from ${SENDGRID_KEY_ENV}",
        description=f"Example: {SENDGRID_KEY_ENV}=... python -m diewell.flows.automations email "
        "diewell-night-shift --sender diewell@ics.nhs.net --to night.shift@ics.nhs.net",
    )
    p.add_argument("name", help="the block's name, for example diewell-night-shift")
    p.add_argument("--sender", required=True, help="the From address SendGrid sends as")
    p.add_argument("--to", required=True, action="append", help="a recipient (repeatable)")
    args = parser.parse_args(argv)
    try:
        if args.command == "apply":
            window = args.late_window_seconds
            done = apply(args.block, late_window=timedelta(seconds=window) if window else None)
            for name, automation_id in done:
                print(f"applied automation {name!r} ({automation_id})")
        elif args.command == "teams":
            print(f"saved the notification block {save_teams_block(args.name)}")
        else:
            block = save_email_block(args.name, args.sender, args.to)
            print(f"saved the notification block {block}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
