#!/usr/bin/env python3
"""Static checks of docker-compose.yml for the wirewatch stack (no Docker needed).

Usage:
  check_compose.py [--file docker-compose.yml] [--scalable process] [--require-yaml]

Checks:
  - every bind-mounted host path exists (relative paths are relative to the compose file);
  - every build context and its Dockerfile exist;
  - every wirewatch service (built from the repo, or an image named wirewatch*) runs one of
    the CLI subcommands: run, fetch, process, replay, tag, check-config, tail; and when its
    `--config` path lies inside a bind mount, the file exists on the host;
  - a wirewatch service that sets WIREWATCH_METRICS_LISTEN does not bind it to loopback
    (Prometheus could not scrape it);
  - every published port is bound to 127.0.0.1 (or ::1);
  - scalable services (default: process) have no container_name and no fixed host port, so
    `docker compose up --scale process=N` works;
  - depends_on names existing services with a valid condition.

Needs PyYAML; if it is not installed the check is skipped with a message and exit status 0
(or 2 with --require-yaml). Exit status 1 when a check fails, listing every failure.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

SUBCOMMANDS = {"run", "fetch", "process", "replay", "tag", "check-config", "tail"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
LOOPBACK = {"127.0.0.1", "::1", "[::1]", "localhost"}

_INTERP = re.compile(r"\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)")


def interpolate(value):
    """Compose-style ${VAR}, ${VAR:-default}, $$ substitution from the environment."""
    if isinstance(value, str):
        def repl(m: re.Match) -> str:
            if m.group() == "$$":
                return "$"
            name = m.group(1) or m.group(4)
            op, default = m.group(2), m.group(3) or ""
            val = os.environ.get(name)
            if op in (":-",) and not val:
                return default
            if op == "-" and val is None:
                return default
            return val or ""
        return _INTERP.sub(repl, value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def as_argv(cmd) -> list[str]:
    if cmd is None:
        return []
    if isinstance(cmd, str):
        return shlex.split(cmd)
    return [str(c) for c in cmd]


def env_dict(env) -> dict[str, str]:
    if isinstance(env, dict):
        return {k: "" if v is None else str(v) for k, v in env.items()}
    out = {}
    for item in env or []:
        k, _, v = str(item).partition("=")
        out[k] = v
    return out


def bind_mounts(svc: dict) -> list[tuple[str, str]]:
    """(host source, container target) of every bind mount of a service."""
    out = []
    for vol in svc.get("volumes") or []:
        if isinstance(vol, str):
            parts = vol.split(":")
            if len(parts) >= 2 and (parts[0].startswith((".", "/", "~"))):
                out.append((parts[0], parts[1]))
        elif isinstance(vol, dict) and vol.get("type") == "bind":
            out.append((str(vol.get("source", "")), str(vol.get("target", ""))))
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", "-f", type=Path, default=Path("docker-compose.yml"))
    ap.add_argument("--scalable", action="append", default=None, metavar="SERVICE",
                    help="service that must be scalable (repeatable; default: process)")
    ap.add_argument("--require-yaml", action="store_true", help="exit 2 instead of skipping without PyYAML")
    args = ap.parse_args(argv)
    scalable = args.scalable or ["process"]

    try:
        import yaml  # type: ignore
    except ImportError:
        print("check_compose: PyYAML is not installed; skipped (pip install pyyaml to enable)")
        return 2 if args.require_yaml else 0

    base = args.file.resolve().parent
    try:
        doc = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        print(f"FAIL {args.file}: {e}")
        print("check_compose: 0 passed, 1 failed")
        return 1
    services: dict = interpolate((doc or {}).get("services") or {})

    failures: list[str] = []
    passed = 0

    def check(ok: bool, msg: str):
        nonlocal passed
        if ok:
            passed += 1
        else:
            failures.append(msg)

    def host_path(src: str) -> Path:
        p = Path(os.path.expanduser(src))
        return p if p.is_absolute() else base / p

    check(bool(services), f"{args.file}: no services")
    for name in scalable:
        check(name in services, f"scalable service {name!r} is not defined")

    for name, svc in services.items():
        svc = svc or {}
        where = f"service {name}"

        mounts = bind_mounts(svc)
        for src, _ in mounts:
            check(host_path(src).exists(), f"{where}: bind-mount source {src} does not exist")

        build = svc.get("build")
        from_repo = False
        if build is not None:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            ctx_path = host_path(ctx)
            check(ctx_path.is_dir(), f"{where}: build context {ctx} does not exist")
            check((ctx_path / dockerfile).is_file(), f"{where}: {ctx}/{dockerfile} does not exist")
            from_repo = ctx_path.resolve() == base
        image = str(svc.get("image") or "")
        entry = as_argv(svc.get("entrypoint"))
        is_wirewatch = from_repo or image.split("/")[-1].startswith("wirewatch") or \
            (entry and Path(entry[0]).name == "wirewatch")

        if is_wirewatch:
            if entry:
                check(Path(entry[0]).name == "wirewatch",
                      f"{where}: entrypoint {entry} is not the wirewatch binary")
            cmd = as_argv(svc.get("command"))
            argv_ = entry[1:] + cmd if entry else cmd
            if argv_:
                check(argv_[0] in SUBCOMMANDS,
                      f"{where}: command {argv_[0]!r} is not a wirewatch subcommand ({', '.join(sorted(SUBCOMMANDS))})")
            if "--config" in argv_:
                i = argv_.index("--config")
                cfg = argv_[i + 1] if i + 1 < len(argv_) else ""
                check(bool(cfg), f"{where}: --config without a path")
                for src, target in mounts:
                    t = target.rstrip("/")
                    if cfg == t or cfg.startswith(t + "/"):
                        hp = host_path(src) / cfg[len(t):].lstrip("/") if cfg != t else host_path(src)
                        check(hp.is_file(), f"{where}: --config {cfg} is mounted from {src}, but "
                                            f"{hp.relative_to(base) if hp.is_relative_to(base) else hp} does not exist")
            env = env_dict(svc.get("environment"))
            listen = env.get("WIREWATCH_METRICS_LISTEN")
            if listen is not None:
                host = listen.rsplit(":", 1)[0]
                check(host not in LOOPBACK,
                      f"{where}: WIREWATCH_METRICS_LISTEN={listen} is loopback; Prometheus cannot scrape it")

        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                ip = str(port.get("host_ip", ""))
                published = port.get("published")
            else:
                spec = str(port).split("/")[0]
                m = re.match(r"^(?:\[([0-9a-fA-F:]+)\]|(\d+\.\d+\.\d+\.\d+)):(.*)$", spec)
                ip = (m.group(1) or m.group(2)) if m else ""
                rest = m.group(3) if m else spec
                published = rest.split(":")[0] if ":" in rest else None
            check(ip in LOOPBACK, f"{where}: published port {port!r} is not bound to 127.0.0.1")
            if name in scalable:
                check(not published, f"{where}: fixed host port {port!r} prevents --scale")

        if name in scalable:
            check("container_name" not in svc, f"{where}: container_name prevents --scale")

        deps = svc.get("depends_on") or []
        items = deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)
        for dep, spec in items:
            check(dep in services, f"{where}: depends_on unknown service {dep!r}")
            cond = (spec or {}).get("condition", "service_started")
            check(cond in CONDITIONS, f"{where}: depends_on {dep}: unknown condition {cond!r}")
            if cond == "service_healthy" and dep in services:
                dep_svc = services[dep] or {}
                has_hc = "healthcheck" in dep_svc or bool((dep_svc.get("build")))
                check(has_hc, f"{where}: waits for {dep} to be healthy but {dep} has no healthcheck")

    for f in failures:
        print(f"FAIL {f}")
    print(f"check_compose: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
