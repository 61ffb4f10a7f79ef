#!/usr/bin/env bash
# A private Docker daemon for the container tests, on a machine that has none running.
#
#   scripts/docker_engine.sh start DIR   installs docker.io and mmdebstrap if missing (Debian), starts dockerd
#                                        with its data, socket and pid file under DIR, and prints the
#                                        DOCKER_HOST to use (overlay2; vfs where overlay2 can't mount)
#   scripts/docker_engine.sh stop DIR    stops that daemon by its pid, then unmounts what it left under DIR
#
# The daemon never touches the host's network: no bridge, no iptables rules; containers run with
# `--network host`. Only the daemon started here is ever stopped (by the pid in DIR/dockerd.pid).
set -euo pipefail

command=${1:?usage: docker_engine.sh start|stop DIR}
dir=${2:?usage: docker_engine.sh start|stop DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
socket="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
log="$dir/dockerd.log"

unmount_leftovers() {
  # dockerd bind-mounts the host's network namespace (and overlay layers) under its exec root.
  local mounts
  mounts=$(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
  for mount in $mounts; do
    umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
  done
}

start_daemon() {
  local driver=$1
  rm -f "$socket" "$pidfile"
  dockerd -H "unix://$socket" --data-root "$dir/data-$driver" --exec-root "$dir/exec" --pidfile "$pidfile" \
    --storage-driver "$driver" --iptables=false --ip-masq=false --bridge=none \
    >>"$log" 2>&1 </dev/null &
  for _ in $(seq 60); do
    if docker -H "unix://$socket" version >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 $! 2>/dev/null; then
      return 1
    fi
    sleep 0.5
  done
  return 1
}

stop_daemon() {
  [ -s "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pidfile"
}

case "$command" in
  start)
    if [ -S "$socket" ] && docker -H "unix://$socket" version >/dev/null 2>&1; then
      echo "unix://$socket"
      exit 0
    fi
    if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
      [ "$(id -u)" -eq 0 ] || { echo "docker_engine: dockerd is missing and installing it needs root" >&2; exit 1; }
      echo "docker_engine: installing docker.io and mmdebstrap" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io mmdebstrap >/dev/null
    fi
    [ "$(id -u)" -eq 0 ] || { echo "docker_engine: a private dockerd needs root" >&2; exit 1; }
    if ! start_daemon overlay2; then
      echo "docker_engine: overlay2 failed (see $log); trying vfs" >&2
      stop_daemon
      unmount_leftovers
      start_daemon vfs || { echo "docker_engine: dockerd did not start; its log: $log" >&2; exit 1; }
    fi
    echo "docker_engine: dockerd $(cat "$pidfile") on unix://$socket" >&2
    echo "unix://$socket"
    ;;
  stop)
    stop_daemon
    unmount_leftovers
    ;;
  *)
    echo "usage: docker_engine.sh start|stop DIR" >&2
    exit 2
    ;;
esac
