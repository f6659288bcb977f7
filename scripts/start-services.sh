#!/bin/sh
# Start a private Docker engine for tests and benchmarks, and print how to reach it.
#
#   eval "$(scripts/start-services.sh /tmp/leptonci-services)"
#
# Everything lives under DIR (default: /tmp/leptonci-services): the engine's data root,
# exec root, pid file, log and unix socket, so it never touches a system dockerd.
# Already running there? It just prints the export line again. Stop it with
#   kill "$(cat DIR/dockerd.pid)"
# Networking: the tests run containers with `--network none`; when iptables is not usable
# (containers, CI sandboxes) the engine starts with --iptables=false --bridge=none.
# The registry is not started here: the tests start Debian's `docker-registry` per test
# session themselves (tests/fixtures/registry.py).
set -eu

dir="${1:-/tmp/leptonci-services}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
log="$dir/dockerd.log"
host="unix://$sock"

ready() {
    DOCKER_HOST="$host" docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && ready; then
    echo "export DOCKER_HOST=$host"
    exit 0
fi

command -v dockerd >/dev/null 2>&1 || { echo "dockerd not found: apt-get install docker.io" >&2; exit 1; }

# A machine that was stopped leaves the pid file and socket of an engine that is gone;
# dockerd refuses to start over a pid file, so clear what belongs to no live process.
if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile" "$sock"
fi

net_flags=""
if ! iptables -L >/dev/null 2>&1; then
    net_flags="--iptables=false --ip6tables=false --bridge=none"
fi

# shellcheck disable=SC2086  # net_flags is a list of flags
setsid dockerd \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$pidfile" \
    --host "$host" \
    $net_flags \
    >"$log" 2>&1 </dev/null &
engine=$!

tries=0
until ready; do
    if ! kill -0 "$engine" 2>/dev/null; then
        echo "dockerd exited; log: $log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    tries=$((tries + 1))
    if [ "$tries" -gt 120 ]; then
        echo "dockerd did not become ready in 60s; log: $log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "export DOCKER_HOST=$host"
