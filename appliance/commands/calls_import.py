"""``nightswitch calls import FILE``: a captured SMDR log read through the live port's
framing and parser, stored or (``--dry-run``) only shown."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.commands.calls_common import (
    _dur,
    _formats_dir,
    _note,
    _open_store,
    _router,
    _site,
    _yes,
    _zone,
)
from appliance.commands.output import emit
from appliance.errors import FieldError, ValidationError
from appliance.timetext import stamp

SHOW_UNPARSED = 5


def _load_format(name: str, site_dir: Path):
    from appliance.smdr.formats import UnknownFormat, load_format

    try:
        return load_format(name, site_dir)
    except UnknownFormat as exc:
        raise ValidationError([FieldError("--format", str(exc))]) from None


def _read_capture(path: str) -> tuple[bytes, datetime | None]:
    try:
        if path == "-":
            return sys.stdin.buffer.read(), None
        data = Path(path).read_bytes()
        mtime = datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc)
        return data, mtime
    except OSError as exc:
        raise ValidationError(
            [FieldError("FILE", f"cannot read {path}: {exc.strerror or exc}")]
        ) from None


def _capture_time(args, tz, mtime) -> datetime:
    if args.now:
        try:
            when = datetime.fromisoformat(args.now)
        except ValueError:
            raise ValidationError(
                [
                    FieldError(
                        "--now",
                        f"{args.now!r} is not a date and time; "
                        "use YYYY-MM-DDTHH:MM such as "
                        "2026-03-02T08:30",
                    )
                ]
            ) from None
        return when.replace(tzinfo=tz) if when.tzinfo is None else when
    if mtime is not None:
        return mtime
    from appliance.inputs.clock import SystemClock  # the one place the time is read

    return SystemClock().now()


def run_import(args) -> int:
    from appliance.smdr.framing import frame_bytes
    from appliance.smdr.parser import LineKind, ParsedLine, parse_line

    errors = []
    try:
        show = int(args.show, 10)
        if show < 0:
            raise ValueError
    except ValueError:
        errors.append(
            FieldError("--show", f"{args.show!r} is not allowed; use a whole number 0 or more")
        )
        show = 0
    if errors:
        raise ValidationError(errors)
    tz, config, note = _site(args)
    zone = _zone(args, config)
    router = _router(args, zone, config)
    fmt = _load_format(args.fmt, _formats_dir(args))
    data, mtime = _read_capture(args.file)
    now = _capture_time(args, tz, mtime)
    _note(note)

    # (line number, what it read as or None when cut off, why it is junk, the text)
    parsed: list[tuple[int, ParsedLine | None, str | None, str]] = []
    for number, line in enumerate(frame_bytes(data, **fmt.framer_options()), start=1):
        if line.dropped:
            parsed.append(
                (
                    number,
                    None,
                    f"line longer than 512 characters: {line.dropped} more were cut off",
                    line.text,
                )
            )
            continue
        result = parse_line(line.text, fmt, now=now, tz=tz)
        parsed.append((number, result, result.reason, line.text))
    calls = [p for _, p, _, _ in parsed if p is not None and p.kind is LineKind.CALL]
    headers = [p for _, p, _, _ in parsed if p is not None and p.kind is LineKind.HEADER]
    junk = [
        (n, reason, text) for n, p, reason, text in parsed if p is None or p.kind is LineKind.JUNK
    ]
    if junk and not calls:
        n, reason, _ = junk[0]
        raise ValidationError(
            [
                FieldError(
                    "--format",
                    f"no line of {args.file} reads as a "
                    f"{fmt.name} call (line {n}: {reason}); "
                    "check the format with --dry-run or "
                    "`nightswitch calls formats`",
                )
            ]
        )
    duplicates = 0
    if not args.dry_run:
        store = _open_store(args.data, must_exist=False)
        try:
            duplicates = _store_import(store, router, fmt.name, calls, junk, now)
        finally:
            store.close()
    where = (
        f"zone {zone}"
        if not router.routes
        else "zones " + ", ".join(router.zones) + " by [[smdr.routes]]"
    )
    lines = [
        f"{args.file}: {len(parsed)} lines as {fmt.name} ({where}, "
        f"{getattr(tz, 'key', tz)}): {len(calls)} calls, {len(headers)} headers "
        f"skipped, {len(junk)} unparsed"
    ]
    if args.dry_run:
        lines[0] += " — dry run, nothing stored"
        for p in calls[:show]:
            r = p.record
            if r is None:
                continue  # a call line always carries its record
            lines.append(
                f"  {stamp(r.started_at, tz)}  "
                f"{r.direction or '?':<8} ext {r.extension or '-':<6} "
                f"trunk {r.trunk or '-':<5} dur {_dur(r.duration_s):>8}  "
                f"answered {_yes(r.answered):<3}  {r.number or ''}"
            )
        if len(calls) > show:
            lines.append(f"  ... {len(calls) - show} more calls")
    elif duplicates:
        lines.append(f"{duplicates} of the calls were stored already and were skipped")
    for n, reason, text in junk[:SHOW_UNPARSED]:
        lines.append(f"  line {n} unparsed: {reason}: {text[:60]!r}")
    if len(junk) > SHOW_UNPARSED:
        lines.append(f"  ... {len(junk) - SHOW_UNPARSED} more unparsed lines")
    emit("\n".join(lines))
    return 0


def _store_import(store, router, fmt_name, calls, junk, now) -> int:
    """Store *calls* not already stored (each in the zone *router* gives it) and the *junk*
    lines; returns the duplicates."""
    duplicates = 0
    if calls:
        starts = [p.record.started_at for p in calls]
        existing = set()
        for zone in router.zones:
            existing |= {
                (zone, c["started_at"], c["raw"])
                for c in store.calls(zone, min(starts), max(starts) + timedelta(seconds=1))
            }
        for p in calls:
            zone = router.zone_of(p.record)
            key = (zone, p.record.started_at.astimezone(timezone.utc).isoformat(), p.record.raw)
            if key in existing:
                duplicates += 1
                continue
            try:
                store.add_call(zone, p.record)
            except ValidationError as exc:
                store.add_unparsed(
                    at=now,
                    fmt=fmt_name,
                    raw=p.record.raw,
                    reason=f"the store refused the record: {exc}"[:500],
                )
            existing.add(key)
    for _, reason, text in junk:
        store.add_unparsed(at=now, fmt=fmt_name, raw=text, reason=reason)
    return duplicates
