"""``nightswitch calls detect --port PATH``: listen on an SMDR port at the usual rates and
propose the format and settings that read the most lines."""

from __future__ import annotations

import json
import sys

from appliance.commands.calls_common import (
    _dur,
    _formats_dir,
    _note,
    _site,
    _yes,
)
from appliance.commands.output import emit
from appliance.errors import FieldError, ValidationError
from appliance.timetext import stamp


def _number(text: str, option: str, lo, hi, kind=float):
    try:
        value = kind(text)
        if not lo <= value <= hi:
            raise ValueError
        return value
    except ValueError:
        raise ValidationError(
            [FieldError(option, f"{text!r} is not allowed; use a number {lo} to {hi}")]
        ) from None


def _rates(text: str) -> list[int]:
    from appliance.pbx.port_settings import BAUD_RATES

    rates = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) not in BAUD_RATES:
            raise ValidationError(
                [
                    FieldError(
                        "--rates",
                        f"{part!r} is not a rate; use "
                        "comma-separated rates from " + ", ".join(map(str, BAUD_RATES)),
                    )
                ]
            )
        rates.append(int(part))
    return list(dict.fromkeys(rates))


PARITY_WORDS = {
    "even": "even parity (7E1)",
    "odd": "odd parity (7O1)",
    "none": "always 0 (8N1)",
    "mark": "always 1 (mark parity)",
    None: "no pattern",
}


def run_detect(args) -> int:
    from appliance.smdr.detect import detect
    from appliance.smdr.formats import load_all

    seconds = _number(args.seconds, "--seconds", 1, 600)
    lines = _number(args.lines, "--lines", 1, 1000, int)
    rates = _rates(args.rates)
    tz, _, note = _site(args)
    good, bad = load_all(_formats_dir(args))
    if args.formats:
        unknown = [n for n in args.formats if n not in good]
        if unknown:
            raise ValidationError(
                [
                    FieldError(
                        "--format",
                        f"unknown SMDR format "
                        f"{', '.join(map(repr, unknown))}; "
                        "formats are " + ", ".join(good),
                    )
                ]
            )
        formats = [good[n] for n in args.formats]
    else:
        formats = list(good.values())
    _note(note)
    if not args.json:
        print(
            f"Listening on {args.port} at {', '.join(map(str, rates))} baud, up to "
            f"{seconds:g} s each (make a few calls now) ...",
            file=sys.stderr,
        )

    def progress(rate, data):
        if not args.json:
            print(f"  {rate} baud: {len(data)} bytes", file=sys.stderr)

    result = detect(
        args.port, formats, rates=rates, seconds=seconds, lines=lines, tz=tz, progress=progress
    )
    if args.json:
        emit(json.dumps(_detection_json(result, args.port, good), indent=2))
    else:
        emit("\n".join(_detection_text(result, args.port, good, tz)))
    return 0 if result.proposal is not None else 1


def _proposed_settings(reading, good) -> dict:
    fmt = good[reading.fmt]
    bits, parity = {"8N1": (8, "none"), "7E1": (7, "even")}[reading.framing]
    stopbits = fmt.serial.stopbits if fmt.serial is not None else 1
    return {"baudrate": reading.rate, "bytesize": bits, "parity": parity, "stopbits": stopbits}


def _detection_text(result, port, good, tz) -> list[str]:
    out = [
        f"{'rate':>5}  {'bytes':>6}  {'lines':>5}  {'best format':<24} {'read':>7} "
        f"{'calls':>5} {'junk':>5}  top bit"
    ]
    for rate, best in result.best_per_rate().items():
        data = result.captured[rate]
        if rate in result.errors:
            out.append(f"{rate:>5}  cannot listen: {result.errors[rate]}")
            continue
        if best is None or not best.calls:
            lines = best.lines if best else 0
            out.append(
                f"{rate:>5}  {len(data):>6}  {lines:>5}  {'(none reads)':<24} "
                f"{'':>7} {'':>5} {'':>5}  {PARITY_WORDS[result.parity[rate]]}"
            )
            continue
        out.append(
            f"{rate:>5}  {len(data):>6}  {best.lines:>5}  {best.fmt:<24} "
            f"{best.read:>3}/{best.lines:<3} {best.calls:>5} {best.junk:>5}  "
            f"{PARITY_WORDS[result.parity[rate]]}"
        )
    out.append("")
    best = result.proposal
    if best is None:
        if not any(result.captured.values()):
            out.append(
                "Nothing arrived at any rate. Check that the PBX's SMDR output is on, "
                "the cable (a null-modem adapter?) and the port; make calls while "
                "listening, or listen longer with --seconds."
            )
        else:
            out.append(
                "Bytes arrived, but no line read as any format at any of these rates "
                "and framings. Capture a sample (section 7 of the installer guide), "
                "try it with `nightswitch calls import FILE --format NAME --dry-run`, "
                "and write a site format if none fits."
            )
        return out
    settings = _proposed_settings(best, good)
    out.append(
        f"Proposal: format {best.fmt} at {best.rate} baud {best.framing} "
        f"({best.read} of {best.lines} lines read: {best.calls} calls, "
        f"{best.headers} headers, {best.junk} unparsed)"
    )
    said = result.parity[best.rate]
    other = "8N1" if best.framing == "7E1" else "7E1"
    if said == "even":
        out.append(
            f"  {other} reads the same lines; the top bit of every character is the "
            "even parity of the other seven, so the PBX sends 7 data bits with even "
            "parity."
        )
    elif said == "none":
        out.append(
            f"  {other} reads the same lines; the top bit is always 0, so the PBX "
            "sends 8 data bits without parity."
        )
    else:
        out.append(
            f"  the top bit shows {PARITY_WORDS[said]}: check the PBX's parity "
            "setting; the lines read either way."
        )
    out.append("  Stop bits cannot be told by listening; 1 reads a PBX that sends 2.")
    for tie in result.ties:
        out.append(
            f"  {tie.fmt} reads as many lines: compare the examples of both with "
            "`calls import --dry-run`."
        )
    out += [
        "",
        "[smdr]",
        f'port = "{port}"',
        f'format = "{best.fmt}"',
        "settings = { "
        + ", ".join(
            f"{k} = {v}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in settings.items()
        )
        + " }",
        "",
        "Examples:",
    ]
    for raw, record in best.examples:
        out.append(f"  {raw.strip()[:78]}")
        out.append(
            f"    -> {stamp(record.started_at, tz)} "
            f"{record.direction or '?'} ext {record.extension or '-'} trunk "
            f"{record.trunk or '-'} dur {_dur(record.duration_s)} answered "
            f"{_yes(record.answered)} {record.number or ''}".rstrip()
        )
    return out


def _detection_json(result, port, good) -> dict:
    best = result.proposal
    rates = []
    for rate, reading in result.best_per_rate().items():
        rates.append(
            {
                "rate": rate,
                "bytes": len(result.captured[rate]),
                "error": result.errors.get(rate),
                "top_bit": result.parity[rate],
                "best": None
                if reading is None or not reading.calls
                else {
                    "format": reading.fmt,
                    "framing": reading.framing,
                    "lines": reading.lines,
                    "calls": reading.calls,
                    "headers": reading.headers,
                    "junk": reading.junk,
                },
            }
        )
    proposal = None
    if best is not None:
        proposal = {
            "format": best.fmt,
            "rate": best.rate,
            "framing": best.framing,
            "settings": _proposed_settings(best, good),
            "lines": best.lines,
            "calls": best.calls,
            "headers": best.headers,
            "junk": best.junk,
            "ties": [t.fmt for t in result.ties],
            "examples": [
                {
                    "line": raw,
                    "start": r.started_at.isoformat(),
                    "direction": r.direction,
                    "extension": r.extension,
                    "trunk": r.trunk,
                    "duration_s": r.duration_s,
                }
                for raw, r in best.examples
            ],
        }
    return {"port": port, "rates": rates, "proposal": proposal}
