"""``nightswitch fleet publish FILE | status``: for the person who runs a fleet of sites.

Both talk to the fleet's MQTT broker. The broker and the account come from the options
(``--broker mqtts://broker.example.net:8883 --username fleet --password-file FILE``) or,
without ``--broker``, from the ``[mqtt]`` section of ``--config`` (a site's config, with
``--username`` and ``--password-file`` for the operator's own account).
"""

from __future__ import annotations

import json
import os
import sys
import time

from appliance.errors import FieldError, ValidationError

DEFAULT_WAIT = 30.0


def register(subparsers, common) -> None:
    p = subparsers.add_parser(
        "fleet",
        help="company closures for every site, and every site's state (MQTT)",
        description="Run a fleet of sites through their MQTT broker: publish the company "
        "closure set, or list every site's mode, confirmation, faults, closure "
        "version and when it was last heard of. docs/mqtt.md explains the set "
        "and the broker's accounts.",
    )
    sub = p.add_subparsers(dest="fleet_command", metavar="COMMAND")
    sub.required = True
    connection = _connection_parent(common)
    pub = sub.add_parser(
        "publish",
        parents=[connection],
        help="check a closure set, publish it to every site and wait for their answers",
        description='Check FILE (a company closure set: {"version": N, "closures": '
        "[...]} with closures shaped like the schedule's date exceptions), "
        "publish it retained on the fleet topic, and wait until every online "
        "site has applied or refused it. A site that is offline applies it when "
        "it reconnects. Exit 0 when every online site applied it, 1 otherwise, "
        "2 for a set with errors (nothing is published).",
    )
    pub.add_argument("file", metavar="FILE", help="the closure set (JSON); - reads stdin")
    pub.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for the sites (default {DEFAULT_WAIT:g})",
    )
    pub.add_argument(
        "--dry-run",
        action="store_true",
        help="check the set (and against the one published) without publishing",
    )
    pub.add_argument("--json", action="store_true", help="print each site's answer as JSON")
    pub.set_defaults(func=run_publish)
    st = sub.add_parser(
        "status",
        parents=[connection],
        help="a table of every site",
        description="Every site the broker knows: online, mode, confirmed by the PBX, "
        "faults, the company closure version in force, and when its status "
        "was last published.",
    )
    st.add_argument("--json", action="store_true", help="print what each site published")
    st.set_defaults(func=run_status)


def _connection_parent(common):
    import argparse

    from appliance.cli import DEFAULT_CONFIG

    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--broker",
        metavar="URL",
        help="mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (default: [mqtt] broker of --config)",
    )
    parent.add_argument("--username", help="the operator's broker account")
    parent.add_argument(
        "--password-file",
        metavar="FILE",
        help="a file holding the account's password (or set NIGHTSWITCH_MQTT_PASSWORD)",
    )
    parent.add_argument("--ca-file", metavar="FILE", help="the CA of the broker's certificate")
    parent.add_argument("--cert-file", metavar="FILE", help="a client certificate")
    parent.add_argument("--key-file", metavar="FILE", help="its private key")
    parent.add_argument(
        "--prefix", metavar="PREFIX", help="the topic prefix (default: nightswitch, or --config's)"
    )
    parent.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help=f"take the broker from this config's [mqtt] when --broker is not "
        f"given (default {DEFAULT_CONFIG})",
    )
    return parent


def settings_from(args):
    """The connection's :class:`MqttSettings` from the options or the config's [mqtt]."""
    from dataclasses import replace

    from appliance.outputs.mqtt.settings import check_mqtt

    client_id = f"nightswitch-fleet-{os.getpid()}"
    if args.broker:
        table = {
            "broker": args.broker,
            "site_id": "operator",
            "client_id": client_id,
            "discovery": False,
        }
    else:
        from appliance.cli import DEFAULT_CONFIG
        from appliance.config import load_config

        cfg = load_config(args.config or DEFAULT_CONFIG)
        if cfg.mqtt is None:
            raise ValidationError(
                [FieldError("--broker", f"{cfg.source} has no [mqtt] section; give --broker URL")]
            )
        table = {
            "broker": cfg.mqtt.broker_url,
            "site_id": cfg.mqtt.site_id,
            "client_id": client_id,
            "topic_prefix": cfg.mqtt.topic_prefix,
        }
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(cfg.mqtt, key):
                table[key] = getattr(cfg.mqtt, key)
        if not args.username and cfg.mqtt.username:
            table["username"], table["password"] = cfg.mqtt.username, cfg.mqtt.password
    for option, key in (
        ("username", "username"),
        ("password_file", "password_file"),
        ("ca_file", "ca_file"),
        ("cert_file", "cert_file"),
        ("key_file", "key_file"),
        ("prefix", "topic_prefix"),
    ):
        value = getattr(args, option)
        if value is not None:
            table[key] = value
    if "password_file" in table:
        table.pop("password", None)
    elif os.environ.get("NIGHTSWITCH_MQTT_PASSWORD") and table.get("username"):
        table["password"] = os.environ["NIGHTSWITCH_MQTT_PASSWORD"]
    errors: list = []
    settings = check_mqtt({"mqtt": table}, errors)
    if errors:
        names = {
            "broker": "--broker",
            "username": "--username",
            "password_file": "--password-file",
            "password": "NIGHTSWITCH_MQTT_PASSWORD",
            "ca_file": "--ca-file",
            "cert_file": "--cert-file",
            "key_file": "--key-file",
            "topic_prefix": "--prefix",
        }
        raise ValidationError(
            [
                FieldError(names.get(e.field.removeprefix("mqtt."), e.field), e.message)
                for e in errors
            ]
        )
    return replace(settings, keepalive=30)


def run_publish(args) -> int:
    from appliance.commands.jsonfile import read_json_file
    from appliance.outputs.mqtt.operator import FleetOperator, check_set

    data = read_json_file(args.file)
    source = "<stdin>" if args.file == "-" else args.file
    try:
        version, digest = check_set(data)
    except ValidationError as exc:
        raise ValidationError(exc.errors, source) from None
    if not isinstance(data, dict):  # check_set refuses anything else
        raise ValidationError([FieldError("", "must be a JSON object")], source)
    if not 0 < args.wait <= 3600:
        raise ValidationError(
            [FieldError("--wait", f"{args.wait:g} is not allowed; use seconds from 1 to 3600")]
        )
    operator = FleetOperator(settings_from(args))
    operator.connect()
    try:
        current = operator.current_set
        if isinstance(current, dict) and isinstance(current.get("version"), int):
            from appliance.outputs.mqtt.fleet import digest_of

            same_digest = digest_of(current.get("closures")) == digest
            if current["version"] > version:
                raise ValidationError(
                    [
                        FieldError(
                            "version",
                            f"version {version} is older than "
                            f"version {current['version']}, "
                            "which is published; versions "
                            "only go up",
                        )
                    ],
                    source,
                )
            if current["version"] == version and not same_digest:
                raise ValidationError(
                    [
                        FieldError(
                            "version",
                            f"version {version} is published "
                            "with other closures; publish "
                            "this as version "
                            f"{version + 1}",
                        )
                    ],
                    source,
                )
        count = len(data["closures"])
        if args.dry_run:
            print(
                f"nightswitch fleet: {source}: version {version} with {count} closure"
                f"{'' if count == 1 else 's'} is good; not published (--dry-run)"
            )
            return 0
        started = time.monotonic()
        operator.publish_set(data)
        print(
            f"nightswitch fleet: version {version} published ({count} closure"
            f"{'' if count == 1 else 's'}); waiting for the sites",
            file=sys.stderr,
        )
        verdicts = operator.wait_for_acks(version, args.wait)
        took = time.monotonic() - started
        sites = operator.snapshot()
    finally:
        operator.close()
    return _report(args, version, verdicts, sites, took)


def _report(args, version, verdicts, sites, took) -> int:
    if args.json:
        print(
            json.dumps(
                {
                    "version": version,
                    "seconds": round(took, 3),
                    "sites": {
                        s: {
                            "result": v,
                            "refused": sites[s].closures.get("refused") if v == "refused" else None,
                        }
                        for s, v in verdicts.items()
                    },
                },
                indent=2,
            )
        )
    else:
        width = max([4] + [len(s) for s in verdicts])
        print(f"{'SITE':<{width}}  RESULT")
        for site, verdict in verdicts.items():
            closures = sites[site].closures
            if verdict == "applied":
                text = f"applied version {version}"
            elif verdict == "newer":
                text = f"has version {closures.get('version')}, newer than {version}"
            elif verdict == "refused":
                errors = (closures.get("refused") or {}).get("errors") or []
                text = "refused: " + "; ".join(
                    f"{e.get('field')}: {e.get('message')}"
                    if e.get("field")
                    else str(e.get("message"))
                    for e in errors
                )
            elif verdict == "pending":
                text = f"online, no answer within {args.wait:g} s"
            else:
                text = "offline: applies it when it reconnects"
            print(f"{site:<{width}}  {text}")
        done = sum(1 for v in verdicts.values() if v in ("applied", "newer"))
        print(
            f"{done} of {len(verdicts)} site{'' if len(verdicts) == 1 else 's'} "
            f"applied version {version} ({took:.1f} s)"
        )
    bad = [v for v in verdicts.values() if v in ("refused", "pending")]
    return 1 if bad else 0


def run_status(args) -> int:
    from appliance.outputs.mqtt.operator import FleetOperator

    operator = FleetOperator(settings_from(args))
    operator.connect()
    try:
        sites = operator.snapshot()
        current = operator.current_set
    finally:
        operator.close()
    if args.json:
        print(
            json.dumps(
                {
                    "closures_published": current.get("version")
                    if isinstance(current, dict)
                    else None,
                    "sites": {
                        s: {"online": v.online, "status": v.status} for s, v in sites.items()
                    },
                },
                indent=2,
            )
        )
        return 0
    rows = [("SITE", "ONLINE", "MODE", "CONFIRMED", "FAULTS", "CLOSURES", "LAST STATUS")]
    for site, view in sites.items():
        status = view.status or {}
        zones = status.get("zones") or {}
        if len(zones) == 1:
            mode = next(iter(zones.values())).get("mode") or "?"
        else:
            mode = ", ".join(f"{z}={v.get('mode')}" for z, v in zones.items()) or "?"
        confirmed = (
            "yes"
            if zones and all(v.get("verified") for v in zones.values())
            else "no"
            if zones
            else "?"
        )
        faults = sorted({k for v in zones.values() for k in v.get("faults") or []})
        closures = status.get("closures") or {}
        text = f"v{closures['version']}" if closures.get("version") else "-"
        if (closures.get("refused") or {}).get("version"):
            text += f" (refused v{closures['refused']['version']})"
        online = {True: "yes", False: "OFFLINE", None: "?"}[view.online]
        rows.append(
            (
                site,
                online,
                mode,
                confirmed,
                ",".join(faults) or "-",
                text,
                status.get("at") or "never",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    published = current.get("version") if isinstance(current, dict) else None
    print(
        f"{len(sites)} site{'' if len(sites) == 1 else 's'}; company closures published: "
        + (f"version {published}" if published else "none")
    )
    return 0
