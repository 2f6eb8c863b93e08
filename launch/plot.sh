#!/usr/bin/env bash
# plot.sh -- draw training curves of one or more runs into a PNG (gnuplot).
#
# Usage: launch/plot.sh [-o OUT.png] RUN_DIR [RUN_DIR...]
#
#   RUN_DIR  a vit-train run directory (its metrics.jsonl is read; a metrics.jsonl file itself
#            is accepted too)
#   -o OUT   the PNG to write (default: RUN_DIR/plot.png for one run, ./plot.png for several)
#
# Six panels against the optimizer step, one line per run (named by its folder): training loss
# (step lines, else the epochs' train_loss), test loss and test accuracy (epoch lines, and the
# eval lines of train.eval_every_steps, dashed; data.val_split's val lines, dotted), the learning
# rate and training images/s (step lines, else epoch lines), and GFLOP/s (epoch lines). The title names the runs, and for one run
# its world size and final test accuracy. Prints the path of the PNG.
set -euo pipefail

die() { echo "error: $*" >&2; exit 1; }

out=""
runs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -o) [ $# -ge 2 ] || die "plot.sh: -o needs a file name"; out="$2"; shift 2 ;;
    -o*) out="${1#-o}"; shift ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) runs+=("$1"); shift ;;
  esac
done
[ ${#runs[@]} -gt 0 ] || die "plot.sh: no run directory given (usage: plot.sh [-o OUT.png] RUN_DIR...)"
command -v gnuplot >/dev/null 2>&1 \
  || die "gnuplot not found: install the Debian package gnuplot-nox (launch/setup.sh does)"

if [ -z "$out" ]; then
  if [ ${#runs[@]} -eq 1 ] && [ -d "${runs[0]}" ]; then out="${runs[0]%/}/plot.png"; else out="plot.png"; fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# column FILE EVENT KEY...: for the lines of EVENT, the values of KEYs (space separated); lines
# that lack one of them are skipped. metrics.jsonl holds flat objects written by vit-train.
columns() {
  local file=$1 event=$2
  shift 2
  awk -v event="$event" -v keys="$*" '
    function value(line, key,    start, rest) {
      start = index(line, "\"" key "\":")
      if (start == 0) return ""
      rest = substr(line, start + length(key) + 3)
      sub(/[,}].*$/, "", rest)
      return rest
    }
    index($0, "\"event\":\"" event "\"") {
      n = split(keys, k, " "); row = ""
      for (i = 1; i <= n; i++) { v = value($0, k[i]); if (v == "") next; row = row (i > 1 ? " " : "") v }
      print row
    }' "$file"
}

# gnuplot string literal: single-quoted, quotes doubled.
gp_quote() { printf "'%s'" "${1//\'/\'\'}"; }

loss_plot=() test_loss_plot=() acc_plot=() speed_plot=() lr_plot=() flops_plot=() names=()
i=0
for run in "${runs[@]}"; do
  i=$((i + 1))
  if [ -d "$run" ]; then metrics="${run%/}/metrics.jsonl"; name="$(basename "${run%/}")"; else
    metrics="$run"; name="$(basename "$(dirname "$run")")"; fi
  [ -f "$metrics" ] || die "$metrics: no such file (is $run a vit-train run directory?)"
  names+=("$name")
  columns "$metrics" step step loss images_per_s lr > "$work/steps$i.dat"
  columns "$metrics" epoch step train_loss test_loss test_acc images_per_s lr world_size \
    > "$work/epochs$i.dat"
  columns "$metrics" eval step test_loss test_acc > "$work/evals$i.dat"
  columns "$metrics" epoch step gflop_per_s > "$work/flops$i.dat"
  columns "$metrics" val step val_loss val_acc > "$work/vals$i.dat"
  [ -s "$work/steps$i.dat" ] || [ -s "$work/epochs$i.dat" ] \
    || die "$metrics: no step or epoch lines to plot"
  title="lc $i title $(gp_quote "$name")"
  if [ -s "$work/steps$i.dat" ]; then
    loss_plot+=("$(gp_quote "$work/steps$i.dat") using 1:2 with linespoints lw 2 pt 7 ps 0.4 $title")
    speed_plot+=("$(gp_quote "$work/steps$i.dat") using 1:3 with linespoints lw 2 pt 7 ps 0.4 $title")
    lr_plot+=("$(gp_quote "$work/steps$i.dat") using 1:4 with lines lw 2 $title")
  else
    loss_plot+=("$(gp_quote "$work/epochs$i.dat") using 1:2 with linespoints lw 2 pt 7 $title")
    speed_plot+=("$(gp_quote "$work/epochs$i.dat") using 1:5 with linespoints lw 2 pt 7 $title")
    lr_plot+=("$(gp_quote "$work/epochs$i.dat") using 1:6 with linespoints lw 2 pt 7 $title")
  fi
  if [ -s "$work/epochs$i.dat" ]; then
    test_loss_plot+=("$(gp_quote "$work/epochs$i.dat") using 1:3 with linespoints lw 2 pt 7 $title")
    acc_plot+=("$(gp_quote "$work/epochs$i.dat") using 1:(100*\$4) with linespoints lw 2 pt 7 $title")
  fi
  if [ -s "$work/evals$i.dat" ]; then
    test_loss_plot+=("$(gp_quote "$work/evals$i.dat") using 1:2 with linespoints lw 1 dt 2 pt 6 ps 0.5 lc $i notitle")
    acc_plot+=("$(gp_quote "$work/evals$i.dat") using 1:(100*\$3) with linespoints lw 1 dt 2 pt 6 ps 0.5 lc $i notitle")
  fi
  if [ -s "$work/vals$i.dat" ]; then
    test_loss_plot+=("$(gp_quote "$work/vals$i.dat") using 1:2 with linespoints lw 2 dt 3 pt 4 lc $i notitle")
    acc_plot+=("$(gp_quote "$work/vals$i.dat") using 1:(100*\$3) with linespoints lw 2 dt 3 pt 4 lc $i notitle")
  fi
  [ ! -s "$work/flops$i.dat" ] \
    || flops_plot+=("$(gp_quote "$work/flops$i.dat") using 1:2 with linespoints lw 2 pt 7 $title")
done

# The title: the runs' names (the first three); one run also its ranks and last test accuracy.
heading="vit-train: $(IFS=,; echo "${names[*]:0:3}" | sed 's/,/, /g')"
[ ${#names[@]} -le 3 ] || heading+=" and $((${#names[@]} - 3)) more"
if [ ${#names[@]} -eq 1 ] && [ -s "$work/epochs1.dat" ]; then
  heading+=$(awk 'END { printf ", %d rank(s), test accuracy %.2f%% at step %d", $7, 100 * $4, $1 }' \
    "$work/epochs1.dat")
fi

# join: the plot clauses of one panel, comma separated (a panel without data says so).
join() {
  if [ $# -eq 0 ]; then echo "NaN notitle"; return; fi
  local IFS=,
  echo "$*"
}

mkdir -p "$(dirname "$out")"
cat > "$work/plot.gp" <<GP
set terminal png size 1800,1000 font ',11'
set output $(gp_quote "$out")
set multiplot layout 2,3 title $(gp_quote "$heading")
set grid
set key top right opaque box
set xlabel 'step'
set ylabel 'loss'
set title 'training loss'
plot $(join "${loss_plot[@]}")
set title 'test loss (after each epoch; dashed: eval lines; dotted: validation split)'
plot $(join "${test_loss_plot[@]+"${test_loss_plot[@]}"}")
set key bottom right opaque box
set ylabel 'accuracy (%)'
set title 'test accuracy (after each epoch; dashed: eval lines; dotted: validation split)'
plot $(join "${acc_plot[@]+"${acc_plot[@]}"}")
set key top right opaque box
set ylabel 'learning rate'
set title 'learning rate'
plot $(join "${lr_plot[@]}")
set ylabel 'images/s'
set title 'training speed (all ranks)'
set yrange [0:*]
plot $(join "${speed_plot[@]}")
set ylabel 'GFLOP/s'
set title 'matrix products per second (each epoch)'
plot $(join "${flops_plot[@]+"${flops_plot[@]}"}")
unset multiplot
GP
gnuplot "$work/plot.gp" 2> "$work/gnuplot.err" || { cat "$work/gnuplot.err" >&2; die "gnuplot failed for $out"; }
[ -s "$out" ] || die "gnuplot wrote no $out"
echo "$out"
