#!/usr/bin/env bash
# Installs the real third-party peers the tests talk to, from Debian's packages, when they are
# missing and we are root. Never fatal: a test whose peer is missing skips with a loud message.
set -u
want=()
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || want+=("$2"); }
need microsocks microsocks
need danted dante-server
need haproxy haproxy
need nginx nginx
need iperf3 iperf3
need promtool prometheus
need chromium chromium
need openssl openssl
# systemd-analyze verify checks deploy/systemd/sluice.service (nothing is started: no PID 1 here).
need systemd-analyze systemd
# nginx as a PROXY-protocol consumer and bench target needs its stream module.
[ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || want+=(libnginx-mod-stream)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_peers: missing ${want[*]} and cannot apt-get here; the tests that need them skip"
  exit 0
fi
echo "install_peers: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
timeout 300 apt-get update -qq >/dev/null 2>&1
# --no-install-recommends keeps it small; policy-rc.d stops Debian from starting the daemons.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
timeout 900 apt-get install -y -qq --no-install-recommends "${want[@]}" >/tmp/sluice-install-peers.log 2>&1 \
  || echo "install_peers: apt-get failed (see /tmp/sluice-install-peers.log); the tests that need them skip"
rm -f /usr/sbin/policy-rc.d
exit 0
