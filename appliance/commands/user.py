"""``nightswitch user``: the people who may log in to the web page, and their roles.

Works offline on the data directory, so the installer can create the first admin
before the daemon ever runs (``install.sh`` uses ``--generate-password``, which prints
the password once, as the last word of the last line).
"""

from __future__ import annotations

import getpass
import sys

from appliance.accounts import Accounts
from appliance.accounts.passwords import generate
from appliance.commands.common import actor, print_json, table
from appliance.errors import FieldError, NightswitchError, ValidationError
from appliance.store import Store
from appliance.store.validate import Checker

NAME = "user"
ROLES_TEXT = "viewer|operator|admin"


def register(subparsers, common) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="add, list, delete users; change passwords and roles",
        description="Manage the people who may log in to the web page. Roles: viewer "
        "(read), operator (+ overrides), admin (+ schedule, users, tokens, "
        "hardware tests). Works without the daemon.",
    )
    sub = parser.add_subparsers(dest="user_command", metavar="ACTION")
    sub.required = True

    def password_options(p):
        how = p.add_mutually_exclusive_group()
        how.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input",
        )
        how.add_argument(
            "--generate-password",
            action="store_true",
            help="make up a strong password and print it once, as the last "
            "word of the last line; it must be changed at the first login",
        )
        p.add_argument(
            "--must-change",
            action="store_true",
            help="the user must choose a new password at their next login",
        )

    add = sub.add_parser(
        "add",
        parents=[common.data],
        help="add a user",
        description="Add a user. Without --password-stdin or "
        "--generate-password the password is asked twice.",
    )
    add.add_argument("name", metavar="NAME", help="1 to 64 printable characters, no spaces")
    add.add_argument("--role", metavar=ROLES_TEXT, required=True, help="what the user may do")
    password_options(add)
    add.set_defaults(func=run_add)

    lst = sub.add_parser(
        "list",
        parents=[common.data],
        help="list users and their roles",
        description="List users and their roles (never passwords).",
    )
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=run_list)

    delete = sub.add_parser(
        "delete",
        parents=[common.data],
        help="delete a user",
        description="Delete a user. The only admin cannot be deleted.",
    )
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(func=run_delete)

    passwd = sub.add_parser(
        "passwd",
        parents=[common.data],
        help="set a user's password",
        description="Set a user's password.",
    )
    passwd.add_argument("name", metavar="NAME")
    password_options(passwd)
    passwd.set_defaults(func=run_passwd)

    role = sub.add_parser(
        "role",
        parents=[common.data],
        help="change a user's role",
        description="Change a user's role. The only admin cannot be demoted.",
    )
    role.add_argument("name", metavar="NAME")
    role.add_argument("role", metavar=ROLES_TEXT)
    role.set_defaults(func=run_role)


def _password(args, name: str) -> tuple[str, bool]:
    """The new password and whether it was generated (and so must be printed)."""
    if args.generate_password:
        return generate(), True
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r"), False
    if not sys.stdin.isatty():
        raise NightswitchError(
            "no terminal to ask for the password on; use --password-stdin or --generate-password"
        )
    first = getpass.getpass(f"New password for {name}: ")
    second = getpass.getpass("The same again: ")
    if first != second:
        raise ValidationError(
            [FieldError("password", "the two entries differ; nothing was changed")]
        )
    return first, False


def run_add(args) -> int:
    with Store(args.data) as store:
        # Name and role are checked before anyone is asked to type a password twice.
        check = Checker()
        check.user_name("NAME", args.name)
        check.role("--role", args.role)
        check.done()
        if store.get_user(args.name) is not None:
            raise ValidationError(
                [
                    FieldError(
                        "NAME",
                        f"a user named {args.name!r} already "
                        "exists; use 'user passwd' or 'user role'",
                    )
                ]
            )
        password, generated = _password(args, args.name)
        # A password printed on a screen is a temporary one (install.sh's first admin).
        must_change = generated or args.must_change
        Accounts(store).add_user(
            args.name, args.role, password, by=actor(), must_change=must_change
        )
    line = f"added user {args.name} with role {args.role}"
    if must_change:
        line += " (to choose a new password at the first login)"
    print(f"{line}; password: {password}" if generated else line)
    return 0


def run_list(args) -> int:
    with Store(args.data) as store:
        users = store.list_users()
    if args.json:
        print_json(users)
    elif not users:
        print("no users yet; add the first admin with: nightswitch user add NAME --role admin")
    else:
        print(table([[u["name"], u["role"]] for u in users], ["NAME", "ROLE"]))
    return 0


def run_delete(args) -> int:
    with Store(args.data) as store:
        ended = Accounts(store).delete_user(args.name, by=actor())
    print(
        f"deleted user {args.name}; {ended['sessions']} web session(s) ended, "
        f"{ended['tokens']} token(s) they made revoked"
    )
    return 0


def run_passwd(args) -> int:
    with Store(args.data) as store:
        if store.get_user(args.name) is None:
            raise ValidationError([FieldError("NAME", f"there is no user named {args.name!r}")])
        password, generated = _password(args, args.name)
        must_change = generated or args.must_change
        ended = Accounts(store).reset_password(
            args.name, password, by=actor(), must_change=must_change
        )
    line = f"changed the password of {args.name}; {ended} web session(s) ended"
    if must_change:
        line += "; to be changed at the next login"
    print(f"{line}; new password: {password}" if generated else line)
    return 0


def run_role(args) -> int:
    with Store(args.data) as store:
        Accounts(store).set_role(args.name, args.role, by=actor())
    print(f"{args.name} now has role {args.role}; their web sessions ended")
    return 0
