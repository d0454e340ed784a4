"""``nightswitch token``: API tokens for scripts, wallboards and building systems.

A token is printed once, when it is made, as the last word of the last line; the
data directory keeps only its SHA-256, so a lost token is revoked and replaced, never
looked up.
"""

from __future__ import annotations

from appliance.store import Store
from appliance.store.offline import actor, now, parse_whole_number, print_json, table

NAME = "token"


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME, help="create, list and revoke API tokens",
        description="Manage API tokens (Authorization: Bearer TOKEN). Works without the "
                    "daemon.")
    sub = parser.add_subparsers(dest="token_command", metavar="ACTION")
    sub.required = True

    create = sub.add_parser("create", parents=[common.data], help="make a new token",
                            description="Make a new token and print it once. Only its hash "
                                        "is stored: copy it now.")
    create.add_argument("--role", metavar="viewer|operator|admin", required=True,
                        help="what the token may do")
    create.add_argument("--label", metavar="TEXT", default="",
                        help="what the token is for, such as 'reception wallboard'")
    create.set_defaults(func=run_create)

    lst = sub.add_parser("list", parents=[common.data], help="list tokens (never the tokens)",
                         description="List tokens: id, label, role, when and by whom they "
                                     "were created. The tokens themselves are not stored.")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=run_list)

    revoke = sub.add_parser("revoke", parents=[common.data], help="revoke a token",
                            description="Revoke a token by its id (see 'token list'); it "
                                        "stops working at once.")
    revoke.add_argument("id", metavar="ID")
    revoke.set_defaults(func=run_revoke)


def run_create(args) -> int:
    with Store(args.data) as store:
        token = store.create_token(args.role, label=args.label, by=actor(), at=now())
        created = store.check_token(token)
    label = f", label {created['label']!r}" if created["label"] else ""
    print(f"created token {created['id']} (role {created['role']}{label}); it is shown only "
          "this once:")
    print(token)
    return 0


def run_list(args) -> int:
    with Store(args.data) as store:
        tokens = store.list_tokens()
    if args.json:
        print_json(tokens)
    elif not tokens:
        print("no tokens; make one with: nightswitch token create --role viewer --label TEXT")
    else:
        print(table([[str(t["id"]), t["role"], t["created_at"], t["created_by"], t["label"]]
                     for t in tokens], ["ID", "ROLE", "CREATED (UTC)", "BY", "LABEL"]))
    return 0


def run_revoke(args) -> int:
    token_id = parse_whole_number(args.id, "ID")
    with Store(args.data) as store:
        store.revoke_token(token_id)
    print(f"revoked token {token_id}")
    return 0
