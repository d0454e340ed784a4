"""``nightswitch token``: API tokens for scripts, wallboards and building systems.

A token is printed once, when it is made, as the last word of the last line; the
data directory keeps only its SHA-256, so a lost token is revoked and replaced, never
looked up.
"""

from __future__ import annotations

from appliance.accounts import MAX_TOKEN_DAYS, Accounts
from appliance.commands.common import actor, parse_whole_number, print_json, site_tz, table
from appliance.commands.output import emit
from appliance.store import Store
from appliance.timetext import stamp

NAME = "token"


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="create, list and revoke API tokens",
        description="Manage API tokens (Authorization: Bearer TOKEN). Works without the daemon.",
    )
    sub = parser.add_subparsers(dest="token_command", metavar="ACTION")
    sub.required = True

    create = sub.add_parser(
        "create",
        parents=[common.config, common.data],
        help="make a new token",
        description="Make a new token and print it once. Only its hash is stored: copy it now.",
    )
    create.add_argument(
        "--role", metavar="viewer|operator|admin", required=True, help="what the token may do"
    )
    create.add_argument(
        "--label",
        metavar="TEXT",
        default="",
        help="what the token is for, such as 'reception wallboard'",
    )
    create.add_argument(
        "--expires-days",
        metavar="N",
        default=None,
        help=f"stop working after N days (1 to {MAX_TOKEN_DAYS}); default: never",
    )
    create.set_defaults(func=run_create)

    lst = sub.add_parser(
        "list",
        parents=[common.config, common.data],
        help="list tokens (never the tokens)",
        description="List tokens: id, label, role, when and by whom they "
        "were created. The tokens themselves are not stored.",
    )
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=run_list)

    revoke = sub.add_parser(
        "revoke",
        parents=[common.data],
        help="revoke a token",
        description="Revoke a token by its id (see 'token list'); it stops working at once.",
    )
    revoke.add_argument("id", metavar="ID")
    revoke.set_defaults(func=run_revoke)


def run_create(args) -> int:
    days = (
        None
        if args.expires_days is None
        else parse_whole_number(args.expires_days, "--expires-days")
    )
    with Store(args.data) as store:
        created = Accounts(store).create_token(
            args.role, label=args.label, by=actor(), owner=None, expires_days=days
        )
    label = f", label {created['label']!r}" if created["label"] else ""
    expires = (
        f", expires {stamp(created['expires_at'], site_tz(args), seconds=False)}"
        if created["expires_at"]
        else ""
    )
    print(
        f"created token {created['id']} (role {created['role']}{label}{expires}); it is "
        "shown only this once:"
    )
    print(created["token"])
    return 0


def run_list(args) -> int:
    with Store(args.data) as store:
        tokens = Accounts(store).tokens()
    if args.json:
        print_json(tokens)
    elif not tokens:
        print("no tokens; make one with: nightswitch token create --role viewer --label TEXT")
    else:
        tz = site_tz(args)

        def shown(value, empty="never"):
            return stamp(value, tz, seconds=False) if value else empty

        emit(
            table(
                [
                    [
                        str(t["id"]),
                        t["effective_role"],
                        shown(t["created_at"]),
                        t["created_by"],
                        shown(t["expires_at"]) + (" (expired)" if t["expired"] else ""),
                        shown(t["last_used_at"]),
                        t["label"],
                    ]
                    for t in tokens
                ],
                ["ID", "ROLE", "CREATED", "BY", "EXPIRES", "LAST USED", "LABEL"],
            )
        )
    return 0


def run_revoke(args) -> int:
    token_id = parse_whole_number(args.id, "ID")
    with Store(args.data) as store:
        Accounts(store).revoke_token(token_id, by=actor())
    print(f"revoked token {token_id}")
    return 0
