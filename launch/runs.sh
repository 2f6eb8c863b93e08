#!/usr/bin/env bash
# runs.sh -- list vit-train runs: state (running, done, stopped), epochs, ranks, model, test
# accuracy, the best epoch, training time. Usage: launch/runs.sh [--json] [DIR ...] (default:
# runs). See launch/runs.py for the columns.
exec python3 "$(dirname "${BASH_SOURCE[0]}")/runs.py" "$@"
