#!/bin/sh
# The documented fuzz run: ./run.sh SECONDS (default 1800). Corpus in fuzz/corpus, findings in fuzz/findings.
cd "$(dirname "$0")"
mkdir -p corpus findings
exec ./fuzz_parser -max_total_time="${1:-1800}" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
  -artifact_prefix=findings/ -print_final_stats=1 corpus seeds
