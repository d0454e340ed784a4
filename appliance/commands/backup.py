"""``nightswitch backup`` and ``nightswitch restore``: the data directory and config in one file.

``backup`` works while the daemon runs (SQLite's online backup API). ``restore`` checks
the whole file first and changes nothing unless every check passes; it refuses while
the daemon runs.
"""

from __future__ import annotations

from pathlib import Path

from appliance import __version__
from appliance.store.backup import write_backup
from appliance.store.offline import now
from appliance.store.restore import restore


def register(subparsers, common) -> None:
    backup = subparsers.add_parser(
        "backup", parents=[common.config, common.data],
        help="write the database and config to one backup file",
        description="Write a consistent snapshot of the database (users, tokens, schedule "
                    "history, overrides, audit, calls), the config file if there is one, and "
                    "a manifest with checksums to FILE (.tar.gz). Safe while the daemon runs. "
                    "The file holds password hashes and the PBX password: keep it private.")
    backup.add_argument("file", metavar="FILE", help="the backup to write, such as "
                                                     "nightswitch-2026-06-01.tar.gz")
    backup.set_defaults(func=run_backup)

    rest = subparsers.add_parser(
        "restore", parents=[common.config, common.data],
        help="check a backup file and put it back",
        description="Check a backup (manifest, checksums, database integrity and schema, "
                    "every schedule, the config) and only then replace the database and the "
                    "config. The previous ones are kept with the suffix .before-restore. Stop "
                    "the daemon first: systemctl stop nightswitch.")
    rest.add_argument("file", metavar="FILE", help="a file made by 'nightswitch backup'")
    rest.set_defaults(func=run_restore)


def run_backup(args) -> int:
    summary = write_backup(Path(args.file), Path(args.data), Path(args.config),
                           created_at=now(), nightswitch_version=__version__)
    config = (f"config {args.config}" if summary.config_included
              else f"no config (none at {args.config})")
    print(f"backup written to {summary.path}: database (schema {summary.schema_version}, "
          f"{summary.db_size} bytes) and {config}")
    return 0


def run_restore(args) -> int:
    result = restore(Path(args.file), Path(args.data), Path(args.config))
    m = result.manifest
    print(f"restored {args.file} (made {m['created_at']} by nightswitch "
          f"{m['nightswitch_version']})")
    kept = f"; the previous one is {result.previous_db}" if result.previous_db else ""
    migrated = (f", migrated from schema {result.schema_before} to {result.schema_after}"
                if result.schema_after != result.schema_before else "")
    print(f"database: {result.db_path}{migrated}{kept}")
    if result.config_path is not None:
        kept = (f"; the previous one is {result.previous_config}" if result.previous_config
                else "")
        print(f"config: {result.config_path}{kept}")
    else:
        print(f"config: the backup has none; {args.config} was left as it is")
    print("now start the service: systemctl start nightswitch")
    return 0
