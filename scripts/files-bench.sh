#!/usr/bin/env bash
# files-bench.sh - DEX_publish / DEX_subscribe of one file between two local
# nodes (docs/bench.md).  Prints one key=value line per run:
#
#   bench=files size_mb=.. txpowbits=.. fragments=.. ok=1
#     publish_s=.. publish_mb_s=..         DEX_publish on A, wall time
#     subscribe_after_publish_s=..         from the publish answer to B's
#                                          DEX_subscribe answer (success)
#     total_mb_s=..                        size / (publish + subscribe)
#     mining_share=..                      A's logged mining time / (publish
#                                          time x 2 worker threads)
#     rss_growth_mb_a=.. rss_growth_mb_b=..  peak RSS (VmHWM) after minus
#                                          RSS before, per node
#     rss_limit_mb=..                      file size + 32 MB (the target)
#
# Usage: scripts/files-bench.sh [build-dir]   (default $DEXP2P_BUILD or build)
# Environment: FB_MB=100 (file size in MB; FB_MB=5 is a quick check),
# FB_BITS="0 12" (the -txpowbits values run, one line each), KEEP=1 keeps
# the data directories.  Targets with -txpowbits=0: publish >= 50 MB/s,
# subscribe done <= 2 s after the publish answer, RSS growth <= size + 32 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${DEXP2P_BUILD:-build}}
. scripts/benchlib.sh
bench_need files-bench "$BUILD/dexp2pd"
export DEXP2P_BUILD
DEXP2P_BUILD=$(cd "$BUILD" && pwd)
rc=0
for bits in ${FB_BITS:-0 12}; do
	FB_TXPOWBITS=$bits timeout 900 /usr/bin/python3 scripts/filesbench.py || rc=1
done
exit $rc
