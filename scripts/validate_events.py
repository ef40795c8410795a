#!/usr/bin/env python3
"""Validate JSON lines (one message per line) against docs/event.schema.json.

Usage:
    validate_events.py SCHEMA [--def NAME] [--max-errors N] < messages.jsonl

SCHEMA      path to the JSON Schema (draft 2020-12), e.g. docs/event.schema.json
--def NAME  validate against `$defs/NAME` (raw_story, enriched_event, alert_event,
            cluster_update, ...) instead of the schema's top level (an enriched event)
--max-errors N
            how many errors to list before stopping the listing (default 20)

The schema itself is checked first (Draft202012Validator.check_schema). `format` is
enforced: `date-time` with a stdlib RFC 3339 check, so no optional package is needed.
Blank lines are skipped. Exit codes: 0 every line valid, 1 a line is invalid (or there
were no lines), 2 bad usage, unreadable schema or invalid schema.

Needs only the standard library and `jsonschema` (pip install jsonschema).
"""

import argparse
import datetime
import json
import re
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator, FormatChecker
except ImportError:  # pragma: no cover
    sys.exit("validate_events.py: needs jsonschema (pip install jsonschema)")

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def is_rfc3339(value):
    if not isinstance(value, str):
        return True  # `format` only constrains strings
    m = _RFC3339.match(value)
    if not m:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        datetime.datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    if second > 60:
        return False
    offset = m.group(8)
    if offset not in ("Z", "z"):
        oh, om = int(offset[1:3]), int(offset[4:6])
        if oh > 23 or om > 59:
            return False
    return True


def format_checker():
    checker = FormatChecker()
    checker.checks("date-time")(is_rfc3339)
    return checker


def error_path(err):
    path = "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path
    )
    return "$" + path


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Validate JSON lines on stdin against a wirewatch message schema."
    )
    ap.add_argument("schema", metavar="SCHEMA", help="path to event.schema.json")
    ap.add_argument("--def", dest="name", metavar="NAME",
                    help="validate against $defs/NAME instead of the top level")
    ap.add_argument("--max-errors", type=int, default=20, metavar="N",
                    help="errors to list (default 20)")
    args = ap.parse_args(argv)

    try:
        with open(args.schema, encoding="utf-8") as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{args.schema}: cannot read schema: {e}", file=sys.stderr)
        return 2
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        print(f"{args.schema}: invalid schema: {e.message} at "
              f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}",
              file=sys.stderr)
        return 2

    target = "top level"
    if args.name:
        defs = schema.get("$defs", {})
        if args.name not in defs:
            print(f"{args.schema}: no $defs/{args.name} (have: {', '.join(sorted(defs))})",
                  file=sys.stderr)
            return 2
        # Same document (so every internal $ref still resolves), other entry point.
        schema = dict(schema)
        schema["$ref"] = f"#/$defs/{args.name}"
        target = f"$defs/{args.name}"

    validator = Draft202012Validator(schema, format_checker=format_checker())

    lines = invalid = listed = 0
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        lines += 1
        try:
            instance = json.loads(line)
        except ValueError as e:
            errors = [f"line {lineno}: not JSON: {e}"]
        else:
            errors = [
                f"line {lineno}: {error_path(err)}: {err.message}"
                for err in sorted(validator.iter_errors(instance),
                                  key=lambda e: list(map(str, e.absolute_path)))
            ]
        if errors:
            invalid += 1
            for msg in errors:
                if listed < args.max_errors:
                    print(msg, file=sys.stderr)
                listed += 1

    if listed > args.max_errors:
        print(f"... {listed - args.max_errors} more errors not listed", file=sys.stderr)
    if lines == 0:
        print("no JSON lines on stdin", file=sys.stderr)
        return 1
    print(f"{lines} lines checked against {target}: {lines - invalid} valid, {invalid} invalid",
          file=sys.stderr)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
