#!/usr/bin/env python3
"""Check every PromQL expression in Grafana dashboards and Prometheus rule files.

Usage:
  check_dashboards.py [--prometheus URL [--require-data]] [--metrics-file FILE]
                      [--metrics-doc docs/METRICS.md] [--list] FILE...

FILEs are Grafana dashboard JSON (*.json) and Prometheus rule files (*.yml, *.yaml), e.g.
  scripts/check_dashboards.py --prometheus http://127.0.0.1:9090 \\
      dashboards/*.json deploy/prometheus/rules.yml

Expressions are taken from every `expr` in a dashboard (panel targets, also inside rows and
annotations) and from every rule's `expr`. Grafana's $__rate_interval, $__interval and
$__range are replaced by 1m, 15s and 1h; any other template variable is an error (the
dashboards must not depend on templating).

Checks, each run only when its option is given (the offline checks always run):
  offline           template variables, balanced brackets, dashboard uid / datasource uid,
                    unique panel ids, non-empty expressions.
  --prometheus URL  each expression is sent to URL/api/v1/query (instant query); HTTP 400
                    (parse error) or any other error is a failure.
  --require-data    (with --prometheus) every expression must return a non-empty result,
                    except alerting-rule expressions (conditions that are normally false);
                    and every metric name referenced anywhere must be one of
                    URL/api/v1/label/__name__/values.
  --metrics-file F  without Prometheus: every metric name referenced must appear as a sample
                    in F, a Prometheus text-format dump (curl http://HOST:9464/metrics > F).
                    Series that Prometheus makes itself (up, scrape_*, ALERTS) and recording
                    rules defined in the given rule files are exempt.
  --metrics-doc F   every metric name referenced must be documented in F (docs/METRICS.md:
                    names in backticks in the table's first column; histograms also allow
                    _bucket, _sum and _count), with the same exemptions.

Exit status: 0 all checks passed, 1 some failed (each listed with file, panel title or rule
name), 2 usage error or Prometheus unreachable. Only the Python 3.11 standard library is
needed; PyYAML is used for rule files when installed, otherwise a small line-based reader
that handles the layout of deploy/prometheus/rules.yml (`expr:` on one line or a `|`/`>`
block).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

GRAFANA_VARS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}

# Series that Prometheus creates itself: never in an exporter's /metrics dump.
PROMETHEUS_SYNTHETIC = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "ALERTS",
    "ALERTS_FOR_STATE",
}

AGGREGATORS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "atan2", "inf", "nan",
}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}


@dataclass
class Expr:
    file: str
    where: str  # panel title / rule name, for the report
    raw: str
    kind: str  # "panel", "annotation", "alert", "record"
    query: str = ""  # after variable substitution
    names: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- PromQL scanning

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<num>(?:\d|\.\d)[0-9A-Za-z_.]*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(q: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(q):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        out.append((kind, m.group()))
    return out


def check_brackets(q: str) -> str | None:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for kind, tok in tokenize(q):
        if kind != "punct":
            continue
        if tok in "([{":
            stack.append(tok)
        elif tok in pairs:
            if not stack or stack[-1] != pairs[tok]:
                return f"unbalanced '{tok}'"
            stack.pop()
    if stack:
        return f"unclosed '{stack[-1]}'"
    return None


def metric_names(q: str) -> set[str]:
    """Metric names a PromQL expression selects (best effort, no full parser)."""
    toks = tokenize(q)
    names: set[str] = set()
    brace = bracket = 0
    i = 0
    n = len(toks)
    while i < n:
        kind, tok = toks[i]
        nxt = toks[i + 1] if i + 1 < n else ("", "")
        if kind == "punct":
            if tok == "{":
                brace += 1
            elif tok == "}":
                brace -= 1
            elif tok == "[":
                bracket += 1
            elif tok == "]":
                bracket -= 1
            i += 1
            continue
        if kind != "ident":
            i += 1
            continue
        if brace:
            # {__name__="metric"} selects a metric by name.
            if tok == "__name__" and nxt == ("punct", "=") and i + 2 < n and toks[i + 2][0] == "str":
                names.add(toks[i + 2][1][1:-1])
            i += 1
            continue
        if bracket:
            i += 1
            continue
        low = tok.lower()
        if low in GROUPING and nxt == ("punct", "("):
            depth = 0
            i += 1
            while i < n:
                if toks[i] == ("punct", "("):
                    depth += 1
                elif toks[i] == ("punct", ")"):
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
            continue
        if low in KEYWORDS:
            i += 1
            continue
        if nxt == ("punct", "("):  # function or aggregation
            i += 1
            continue
        if tok in AGGREGATORS and nxt[0] == "ident" and nxt[1].lower() in ("by", "without"):
            i += 1
            continue
        names.add(tok)
        i += 1
    return names


_VAR = re.compile(r"\$\{([A-Za-z_]\w*)(?::[^}]*)?\}|\$([A-Za-z_]\w*)|\[\[([A-Za-z_]\w*)\]\]")


def substitute(q: str) -> tuple[str, list[str]]:
    bad: list[str] = []

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name in GRAFANA_VARS and not m.group(3):
            return GRAFANA_VARS[name]
        bad.append(m.group())
        return m.group()

    return _VAR.sub(repl, q), bad


# --------------------------------------------------------------------------- sources


def panels_title(node: dict) -> str | None:
    if isinstance(node, dict) and "title" in node and ("targets" in node or "gridPos" in node):
        return node.get("title") or "(untitled panel)"
    return None


def dashboard_exprs(path: Path, problems: list[str]) -> list[Expr]:
    try:
        dash = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        problems.append(f"{path}: cannot read dashboard JSON: {e}")
        return []
    if isinstance(dash, dict) and "dashboard" in dash and "panels" not in dash:
        dash = dash["dashboard"]  # API export wrapper
    if not isinstance(dash, dict):
        problems.append(f"{path}: not a dashboard object")
        return []
    if not dash.get("uid"):
        problems.append(f"{path}: dashboard has no uid")
    variables = [v.get("name") for v in (dash.get("templating") or {}).get("list", [])]
    if variables:
        problems.append(f"{path}: dashboard defines template variables {variables}; none are allowed")

    exprs: list[Expr] = []
    panel_ids: dict[int, str] = {}

    def check_ds(ds, where: str):
        if isinstance(ds, dict):
            uid, typ = ds.get("uid"), ds.get("type")
            if typ == "prometheus" and uid != "prometheus":
                problems.append(f"{path}: {where}: datasource uid {uid!r}, expected 'prometheus'")
            if typ not in (None, "prometheus", "grafana", "datasource") and uid not in ("-- Grafana --", "-- Mixed --"):
                problems.append(f"{path}: {where}: unexpected datasource {ds}")
        elif isinstance(ds, str) and ds not in ("prometheus", "Prometheus", "-- Grafana --"):
            problems.append(f"{path}: {where}: datasource {ds!r}, expected uid 'prometheus'")

    def walk(node, where: str, kind: str):
        if isinstance(node, dict):
            title = panels_title(node)
            if title is not None:
                where = title
                pid = node.get("id")
                if pid is not None:
                    if pid in panel_ids:
                        problems.append(f"{path}: panel id {pid} used by {panel_ids[pid]!r} and {title!r}")
                    panel_ids[pid] = title
                if node.get("type") != "row" or "datasource" in node:
                    check_ds(node.get("datasource"), f"panel {title!r}")
            if "expr" in node and isinstance(node["expr"], str):
                ref = node.get("refId")
                label = f"{where} [{ref}]" if ref else where
                check_ds(node.get("datasource"), f"panel {label!r}")
                if node.get("hide") is True:
                    pass  # hidden targets are still checked: they are still in the JSON
                exprs.append(Expr(str(path), label, node["expr"], kind))
            for key, value in node.items():
                if key == "annotations":
                    walk(value, "annotation", "annotation")
                elif key == "templating":
                    continue
                else:
                    walk(value, where, kind)
        elif isinstance(node, list):
            for item in node:
                walk(item, where, kind)

    walk(dash, dash.get("title", path.name), "panel")
    return exprs


def _unquote_yaml_scalar(v: str) -> str:
    v = v.strip()
    if v.startswith("'") and v.endswith("'") and len(v) >= 2:
        return v[1:-1].replace("''", "'")
    if v.startswith('"') and v.endswith('"') and len(v) >= 2:
        return json.loads(v)
    # plain scalar: a " #" starts a comment
    return re.split(r"\s+#", v, maxsplit=1)[0].strip()


def rules_line_based(text: str, path: Path, problems: list[str]) -> list[tuple[str, str, str]]:
    """(kind, name, expr) for each rule; handles one-line and `|`/`>` block `expr:` values."""
    lines = text.splitlines()
    out: list[tuple[str, str, str]] = []
    cur_kind, cur_name = None, None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*-\s+(alert|record):\s*(.*)$", line)
        if m:
            cur_kind, cur_name = m.group(1), _unquote_yaml_scalar(m.group(2))
            i += 1
            continue
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*)$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2).strip()
            if cur_kind is None:
                problems.append(f"{path}:{i + 1}: expr outside a rule")
            block = re.match(r"^([|>])[-+]?\s*(#.*)?$", value)
            if block:
                body: list[str] = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i])
                    i += 1
                while body and not body[-1].strip():
                    body.pop()
                strip = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
                body = [b[strip:] for b in body]
                expr = "\n".join(body) if block.group(1) == "|" else " ".join(b.strip() for b in body)
            else:
                expr = _unquote_yaml_scalar(value)
                i += 1
                if i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > indent \
                        and not re.match(r"^\s*[\w-]+:", lines[i]):
                    problems.append(f"{path}:{i + 1}: multi-line plain scalar for expr; use `expr: |` "
                                    "(or install PyYAML)")
            out.append((cur_kind or "record", cur_name or "?", expr))
            continue
        i += 1
    return out


def rule_exprs(path: Path, problems: list[str], use_yaml: bool) -> tuple[list[Expr], set[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        problems.append(f"{path}: {e}")
        return [], set()
    rules: list[tuple[str, str, str]] = []
    yaml = None
    if use_yaml:
        try:
            import yaml  # type: ignore
        except ImportError:
            yaml = None
    if yaml is not None:
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            problems.append(f"{path}: invalid YAML: {e}")
            return [], set()
        for group in doc.get("groups", []) or []:
            for rule in group.get("rules", []) or []:
                kind = "alert" if "alert" in rule else "record"
                rules.append((kind, str(rule.get(kind, "?")), str(rule.get("expr", ""))))
    else:
        rules = rules_line_based(text, path, problems)
    if not rules:
        problems.append(f"{path}: no rules found")
    exprs = [Expr(str(path), f"{kind} {name}", expr, kind) for kind, name, expr in rules]
    records = {name for kind, name, _ in rules if kind == "record"}
    return exprs, records


# --------------------------------------------------------------------------- name sources


def names_from_exposition(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_:][A-Za-z0-9_:]*)", line)
        if m:
            names.add(m.group(1))
    return names


def names_from_doc(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        m = re.fullmatch(r"`([A-Za-z_:][A-Za-z0-9_:]*)`", cells[0])
        if not m:
            continue
        name, typ = m.group(1), cells[1].lower()
        names.add(name)
        if "histogram" in typ:
            names.update({name + "_bucket", name + "_sum", name + "_count"})
        elif "summary" in typ:
            names.update({name + "_sum", name + "_count"})
    return names


# --------------------------------------------------------------------------- Prometheus


class PromError(Exception):
    pass


def prom_request(base: str, path: str, data: dict | None, timeout: float) -> dict:
    url = base.rstrip("/") + path
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"status": "error", "errorType": f"http {e.code}", "error": raw[:300].decode(errors="replace")}
        payload["_http"] = e.code
        return payload
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise PromError(f"{url}: {e}") from e


def describe_error(resp: dict) -> str:
    code = resp.get("_http")
    etype = resp.get("errorType", "error")
    kind = "parse error" if code == 400 else f"query error (HTTP {code})" if code else "query error"
    return f"{kind}: {etype}: {resp.get('error', '').strip()}"


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring (head -50 %(prog)s) for details.")
    ap.add_argument("files", nargs="+", type=Path, help="dashboard *.json and rule *.yml files")
    ap.add_argument("--prometheus", metavar="URL", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--require-data", action="store_true",
                    help="with --prometheus: non-alert expressions must return data, metric names must exist")
    ap.add_argument("--metrics-file", type=Path, metavar="FILE",
                    help="text exposition dump: every referenced metric name must be in it")
    ap.add_argument("--metrics-doc", type=Path, metavar="FILE",
                    help="docs/METRICS.md: every referenced metric name must be documented")
    ap.add_argument("--no-yaml", action="store_true", help="read rule files without PyYAML even if installed")
    ap.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout per request (s)")
    ap.add_argument("--list", action="store_true", help="print every expression and the metric names it uses")
    args = ap.parse_args(argv)
    if args.require_data and not args.prometheus:
        ap.error("--require-data needs --prometheus")

    problems: list[str] = []  # file-level failures
    exprs: list[Expr] = []
    records: set[str] = set()
    for f in args.files:
        if not f.exists():
            problems.append(f"{f}: no such file")
        elif f.suffix == ".json":
            exprs += dashboard_exprs(f, problems)
        elif f.suffix in (".yml", ".yaml"):
            e, r = rule_exprs(f, problems, use_yaml=not args.no_yaml)
            exprs += e
            records |= r
        else:
            problems.append(f"{f}: unknown file type (expected .json dashboard or .yml rules)")

    for e in exprs:
        e.query, bad = substitute(e.raw)
        if bad:
            e.failures.append(f"template variables other than $__rate_interval/$__interval/$__range: {sorted(set(bad))}")
        if not e.query.strip():
            e.failures.append("empty expression")
            continue
        err = check_brackets(e.query)
        if err:
            e.failures.append(f"syntax: {err}")
        e.names = metric_names(e.query)

    exempt = PROMETHEUS_SYNTHETIC | records
    if args.metrics_file:
        try:
            have = names_from_exposition(args.metrics_file)
        except OSError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for e in exprs:
            missing = sorted(n for n in e.names - have if n not in exempt)
            if missing:
                e.failures.append(f"metric names not in {args.metrics_file}: {missing}")
    if args.metrics_doc:
        try:
            documented = names_from_doc(args.metrics_doc)
        except OSError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if not documented:
            problems.append(f"{args.metrics_doc}: no metric names found in its table")
        for e in exprs:
            missing = sorted(n for n in e.names - documented if n not in exempt)
            if missing:
                e.failures.append(f"metric names not documented in {args.metrics_doc}: {missing}")

    if args.prometheus:
        try:
            known = None
            if args.require_data:
                resp = prom_request(args.prometheus, "/api/v1/label/__name__/values", None, args.timeout)
                if resp.get("status") != "success":
                    print(f"error: cannot list metric names: {describe_error(resp)}", file=sys.stderr)
                    return 2
                known = set(resp.get("data") or [])
            for e in exprs:
                if any(f.startswith("template variables") for f in e.failures) or not e.query.strip():
                    continue
                resp = prom_request(args.prometheus, "/api/v1/query", {"query": e.query}, args.timeout)
                if resp.get("status") != "success":
                    e.failures.append(describe_error(resp))
                    continue
                if known is not None:
                    missing = sorted(e.names - known)
                    if missing:
                        e.failures.append(f"metric names absent from Prometheus: {missing}")
                    data = resp.get("data") or {}
                    result = data.get("result")
                    empty = data.get("resultType") in ("vector", "matrix") and not result
                    if empty and e.kind != "alert":
                        e.failures.append("no data (empty result)")
        except PromError as err:
            print(f"error: Prometheus unreachable: {err}", file=sys.stderr)
            return 2

    if args.list:
        for e in exprs:
            print(f"{e.file}: {e.where}: {' '.join(e.query.split())}")
            print(f"    metrics: {', '.join(sorted(e.names)) or '-'}")

    failed = [e for e in exprs if e.failures]
    for p in problems:
        print(f"FAIL {p}")
    for e in failed:
        print(f"FAIL {e.file}: {e.where}")
        for f in e.failures:
            print(f"    {f}")
        print("    expr: " + " ".join(e.query.split()))
    passed = len(exprs) - len(failed)
    print(f"check_dashboards: {passed} passed, {len(failed) + len(problems)} failed")
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
