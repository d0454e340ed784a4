"""``nightswitch backup`` and ``nightswitch restore``: the data directory, the config and
the site's own PBX profiles and SMDR formats in one file.

``backup`` works while the daemon runs (SQLite's online backup API). ``restore`` checks
the whole file first and changes nothing unless every check passes; it refuses while
the daemon runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from appliance import __version__
from appliance.backup.archive import write_backup
from appliance.backup.restore import MAX_DB_BYTES, restore
from appliance.commands.common import actor, now, site_tz
from appliance.errors import FieldError, ValidationError
from appliance.timetext import stamp


def register(subparsers, common) -> None:
    backup = subparsers.add_parser(
        "backup",
        parents=[common.config, common.data],
        help="write the database, config and site profiles to one backup file",
        description="Write a consistent snapshot of the database (users, tokens, schedule "
        "history, overrides, audit, calls), the config file if there is one, the "
        "site's PBX profiles (profiles/*.toml beside the config) and SMDR formats "
        "(smdr/*.toml), and a manifest with checksums to FILE (.tar.gz). Safe "
        "while the daemon runs. The file holds password and token hashes and the PBX "
        "password: whoever holds it can become admin; keep it as you would the "
        "admin password. It never holds the web session key.",
    )
    backup.add_argument(
        "file", metavar="FILE", help="the backup to write, such as nightswitch-2026-06-01.tar.gz"
    )
    backup.set_defaults(func=run_backup)

    rest = subparsers.add_parser(
        "restore",
        parents=[common.config, common.data],
        help="check a backup file and put it back",
        description="Check a backup (manifest, checksums, database integrity and schema, "
        "every schedule, the site's profiles and SMDR formats, the config against "
        "them) and only then replace the database, the config and the site files "
        "it holds. The previous ones are kept with the suffix .before-restore; "
        "site files the backup does not have are left alone. Stop the daemon "
        "first: systemctl stop nightswitch.",
    )
    rest.add_argument("file", metavar="FILE", help="a file made by 'nightswitch backup'")
    rest.add_argument(
        "--max-db-mib",
        type=int,
        default=MAX_DB_BYTES // (1024 * 1024),
        metavar="N",
        help="refuse a database larger than N MiB (default %(default)s)",
    )
    rest.set_defaults(func=run_restore)


def run_backup(args) -> int:
    if args.file == "-":
        # A backup is a binary archive and holds password hashes: it goes to a named file
        # (mode 0600), never to a terminal or a pipe, and never to a stray file called "-".
        raise ValidationError(
            [
                FieldError(
                    "FILE",
                    f"{args.file!r} is not a file name; give "
                    "the path of the backup to write, such as "
                    "nightswitch-backup.tar.gz",
                )
            ]
        )
    summary = write_backup(
        Path(args.file),
        Path(args.data),
        Path(args.config),
        created_at=now(),
        nightswitch_version=__version__,
    )
    config = (
        f"config {args.config}" if summary.config_included else f"no config (none at {args.config})"
    )
    print(
        f"backup written to {summary.path}: database (schema {summary.schema_version}, "
        f"{summary.db_size} bytes) and {config}"
    )
    site_dir = summary.manifest.get("site_dir")
    profiles = [n for n in summary.site_files if n.startswith("profiles/")]
    formats = [n for n in summary.site_files if n.startswith("smdr/")]
    print(
        f"site files from {site_dir}: {_count(profiles, 'PBX profile')} "
        f"{_names(profiles)}and {_count(formats, 'SMDR format')} {_names(formats)}".rstrip()
    )
    for warning in summary.warnings:
        print(f"nightswitch: warning: {warning}", file=sys.stderr)
    return 0


def _count(names, what: str) -> str:
    return f"{len(names)} {what}{'' if len(names) == 1 else 's'}"


def _names(names) -> str:
    return f"({', '.join(names)}) " if names else ""


def run_restore(args) -> int:
    if args.max_db_mib < 1:
        raise ValidationError(
            [FieldError("--max-db-mib", "must be a whole number of MiB, 1 or more")]
        )
    result = restore(
        Path(args.file),
        Path(args.data),
        Path(args.config),
        max_db=args.max_db_mib * 1024 * 1024,
        by=actor(),
    )
    m = result.manifest
    made = (
        stamp(m["created_at"], site_tz(args), seconds=False)
        if m.get("created_at")
        else "at an unknown time"
    )
    print(f"restored {args.file} (made {made} by nightswitch {m['nightswitch_version']})")
    kept = f"; the previous one is {result.previous_db}" if result.previous_db else ""
    migrated = (
        f", migrated from schema {result.schema_before} to {result.schema_after}"
        if result.schema_after != result.schema_before
        else ""
    )
    print(f"database: {result.db_path}{migrated}{kept}")
    if result.config_path is not None:
        kept = f"; the previous one is {result.previous_config}" if result.previous_config else ""
        print(f"config: {result.config_path}{kept}")
    else:
        print(f"config: the backup has none; {args.config} was left as it is")
    for line in _site_lines(result):
        print(line)
    print(
        "web sessions: all ended; everyone logs in again (a new session key is made at "
        "the next start)"
    )
    print("now start the service: systemctl start nightswitch")
    return 0


def _site_lines(result) -> list[str]:
    """What happened to the site's profiles and formats, one line per kind of outcome."""
    site = result.site_dir
    if site is None:
        return []
    if not result.site_included:
        return [
            f"site files: this backup (format {result.manifest['format_version']}) holds "
            f"no profiles or SMDR formats; {site / 'profiles'} and {site / 'smdr'} were "
            "left as they are"
        ]

    def rel(paths):
        return ", ".join(str(p.relative_to(site)) for p in paths)

    lines = []
    if not (result.site_written or result.site_unchanged):
        lines.append("site files: the backup has no profiles or SMDR formats")
    if result.site_written:
        lines.append(f"site files written in {site}: {rel(result.site_written)}")
    if result.site_previous:
        lines.append(f"site files replaced, the previous ones kept as: {rel(result.site_previous)}")
    if result.site_unchanged:
        lines.append(f"site files already as in the backup: {rel(result.site_unchanged)}")
    if result.site_left:
        lines.append(
            f"site files not in the backup, left as they are (remove them if the "
            f"site no longer needs them): {rel(result.site_left)}"
        )
    return lines
