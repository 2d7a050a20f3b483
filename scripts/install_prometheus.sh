#!/usr/bin/env bash
# Install Prometheus and promtool from Debian's `prometheus` package, once.
#
# The proof test (tests/test_prometheus_proof.py) runs the real Prometheus server against a
# worker and checks every dashboard query and rule with promtool. Idempotent: does nothing when
# `promtool` is already on PATH. Needs root (CI runs as root) or sudo on a Debian/Ubuntu machine.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_prometheus.sh: no apt-get here; install Prometheus (prometheus and promtool) yourself" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_prometheus.sh: run as root, or install sudo, to apt-get install prometheus" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends: the node exporter and friends are not needed for promtool and the server.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
promtool --version 2>&1 | head -1
