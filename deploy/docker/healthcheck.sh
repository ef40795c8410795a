#!/bin/bash
# Container health probe for wirewatch without curl/wget (not in the slim runtime image).
#
#   wirewatch-healthcheck [PATH]      PATH defaults to /healthz (use /readyz for readiness)
#
# Opens a TCP connection with bash's /dev/tcp to the address in WIREWATCH_METRICS_LISTEN
# (0.0.0.0 / [::] are probed on loopback), sends a plain HTTP/1.1 GET and exits 0 only on a
# 2xx status line. WIREWATCH_HEALTHCHECK_ADDR=host:port overrides the address.
set -u

path="${1:-/healthz}"
addr="${WIREWATCH_HEALTHCHECK_ADDR:-${WIREWATCH_METRICS_LISTEN:-127.0.0.1:9464}}"
port="${addr##*:}"
host="${addr%:*}"
host="${host#[}"
host="${host%]}"
case "$host" in
    "" | 0.0.0.0) host=127.0.0.1 ;;
    :: ) host=::1 ;;
esac

if ! exec 3<>"/dev/tcp/${host}/${port}"; then
    echo "unhealthy: cannot connect to ${host}:${port}" >&2
    exit 1
fi
printf 'GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wirewatch-healthcheck\r\nConnection: close\r\n\r\n' \
    "$path" "$host" >&3
if ! IFS= read -r -t 4 status <&3; then
    echo "unhealthy: no response from ${host}:${port}${path}" >&2
    exit 1
fi
exec 3<&-
status="${status%$'\r'}"
case "$status" in
    "HTTP/1."?" 2"??*) exit 0 ;;
esac
echo "unhealthy: ${path} answered '${status}'" >&2
exit 1
