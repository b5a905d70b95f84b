#!/usr/bin/env bash
# Install exactly the Debian packages dexp2p needs that are missing.
# Idempotent; prints nothing when everything is already there.
set -euo pipefail

pkgs=(build-essential pkg-config clang libclang-rt-14-dev
      libevent-dev libsodium-dev libssl-dev libjansson-dev libcmocka-dev
      python3 python3-pytest
      iproute2 nftables faketime    # fault tests (tests/faults)
      help2man man-db               # man pages (make man), read in tests
      bash-completion               # completion test (test_install.py)
      systemd                       # systemd-analyze verify of the unit
      shellcheck clang-format       # make lint
      debhelper dpkg-dev git         # make test-package (debian/)
      prometheus                    # promtool: tests/integration/test_metrics.py
      chromium chromium-driver python3-selenium  # test_webui.py
      gnuplot-nox)                  # bench plots (scripts/*bench.sh)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
