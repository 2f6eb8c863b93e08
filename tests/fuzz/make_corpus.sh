#!/usr/bin/env bash
# make_corpus.sh BUILD_DIR -- (re)writes the seed inputs of the fuzz targets into
# BUILD_DIR/corpus/<target>/seed-*, made at build time rather than committed:
#   idx_fuzz, tensor_file_fuzz  small valid files from the project's own writers (the fuzz-seeds
#                               tool, tests/fuzz/make_seeds.cpp), plus the synthetic MNIST-format
#                               files of build/tests/make-test-data when that tool is built;
#   config_fuzz                 configs/*.ini as --config files, and a few command lines.
# Files libFuzzer added to the corpus (named by their SHA-1) are kept. Seeds carry each target's
# control byte first (see the comment at the top of each <target>.cpp).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${1:?usage: make_corpus.sh BUILD_DIR}"
CORPUS="$BUILD/corpus"
mkdir -p "$CORPUS/idx_fuzz" "$CORPUS/tensor_file_fuzz" "$CORPUS/config_fuzz"

# 1. IDX files and TensorFiles from the project's writers.
tmp="$(mktemp -d "${TMPDIR:-/tmp}/vit-fuzz-seeds.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$BUILD/tests/fuzz/fuzz-seeds" "$tmp"
for target in idx_fuzz tensor_file_fuzz; do
  for f in "$tmp/$target"/*; do
    cp "$f" "$CORPUS/$target/seed-$(basename "$f")"
  done
done

# 2. The end-to-end tests' synthetic data set (gzip IDX files), when build/ has the tool: as the
#    .gz file read as it is (control byte 0), and uncompressed for the fuzzer to gzip (1).
make_test_data="$ROOT/build/tests/make-test-data"
if [ -x "$make_test_data" ] && "$make_test_data" "$tmp/mnist" 3 2 >/dev/null 2>&1; then
  for f in "$tmp/mnist"/t10k-*.gz; do
    name="$(basename "$f" .gz)"
    { printf '\000'; cat "$f"; } >"$CORPUS/idx_fuzz/seed-$name-gz"
    { printf '\001'; gzip -dc "$f"; } >"$CORPUS/idx_fuzz/seed-$name"
  done
fi

# 3. Configurations: each INI file as the --config file (control byte 1, no arguments, NUL, file),
#    with arguments before it, and command lines alone (control byte 0, one argument per line).
for f in "$ROOT"/configs/*.ini; do
  { printf '\001\000'; cat "$f"; } >"$CORPUS/config_fuzz/seed-$(basename "$f")"
done
{ printf '\001--train.epochs\n3\n--run-dir\nruns/x\000'; cat "$ROOT/configs/smoke.ini"; } \
  >"$CORPUS/config_fuzz/seed-args-and-ini"
printf '\000--model.hidden_d\n16\n--model.n_heads\n4\n--train.epochs=3\n--optim.lr\n1e-3' \
  >"$CORPUS/config_fuzz/seed-args-model"
printf '\000--optim.name\nsgd\n--optim.schedule\ncosine\n--optim.warmup_steps\n10\n--log.every_steps\nauto\n--dist.debug\ntrue\n--data.dataset\nfashion-mnist' \
  >"$CORPUS/config_fuzz/seed-args-choices"
printf '\000--resume\nauto\n--run-dir\nruns/latest\n--log.console_every_s\n0.5' \
  >"$CORPUS/config_fuzz/seed-args-resume"
printf '\000--help' >"$CORPUS/config_fuzz/seed-help"
printf '\000--version' >"$CORPUS/config_fuzz/seed-version"

# Inputs that once failed (tests/fuzz/crashes/, all fixed): regression seeds.
for target in idx_fuzz tensor_file_fuzz config_fuzz; do
  for f in "$ROOT/tests/fuzz/crashes/$target"-*; do
    [ -f "$f" ] && cp "$f" "$CORPUS/$target/seed-crash-$(basename "$f")"
  done
done

for target in idx_fuzz tensor_file_fuzz config_fuzz; do
  echo "corpus: $target: $(find "$CORPUS/$target" -type f | wc -l) files ($(find "$CORPUS/$target" -name 'seed-*' | wc -l) seeds)"
done
