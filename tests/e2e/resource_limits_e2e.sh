#!/usr/bin/env bash
# End-to-end: limits a run cannot work within end it at start with one line naming the limit or the
# keys, not with an out-of-memory kill, a page of Open MPI text or a rank that spins forever.
#  - a model whose estimated memory exceeds the machine's: one line naming the keys, nothing written;
#  - ulimit -v below what a rank maps: one line naming ulimit -v (a rank hung in its first step);
#  - with train.memory_check = warn the run tries, and a first step that never ends is bounded by
#    twice dist.timeout_s;
#  - a low soft ulimit -n is raised (vit-train alone and launch/train.sh under mpirun); a hard one
#    below what a rank needs is one line from each.
# Usage: resource_limits_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$make_data" "$work/data" 512 128
smoke=(--config "$src/configs/smoke.ini" --data.dir "$work/data")
# one_error FRAGMENT: the last run exited 1 with one stderr line, an error naming FRAGMENT.
one_error() {
  [ "$rc" -eq 1 ] || { cat "$work/stderr"; fail "exit $rc, not 1 ($1)"; }
  [ "$(wc -l < "$work/stderr")" -eq 1 ] || { cat "$work/stderr"; fail "not one line ($1)"; }
  grep -q "^error: .*$1" "$work/stderr" || { cat "$work/stderr"; fail "no '$1'"; }
}
# limited ULIMIT_ARGS -- PROGRAM ARGS...: runs it under those limits, 60 s at most; sets rc.
limited() {
  local limits=$1; shift 2
  set +e
  bash -c "ulimit $limits && exec timeout -k 5 60 \"\$@\"" limited "$@" \
    > "$work/stdout" 2> "$work/stderr"
  rc=$?
  set -e
  [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || { tail -n 3 "$work/stdout"; fail "hung: $limits $*"; }
}

# 1. Thousands of GiB of activations: refused before the model is built, naming the keys.
limited "-c 0" -- "$vit_train" "${smoke[@]}" --run-dir "$work/big" --model.hidden_d 2048 \
  --model.n_heads 16 --model.n_patches 28 --model.n_blocks 12 --train.batch_size 256
one_error "the run needs about .* GiB of memory on this machine .*train.batch_size = 256, model.n_patches = 28, model.hidden_d = 2048.* are free"
[ -z "$(ls -A "$work/big/checkpoints" 2>/dev/null)" ] || fail "the refused run wrote checkpoints"

# 2. ulimit -v just above what the program maps at the check (Debian's LibTorch: 1.0 GiB there,
# where two threads spun in OpenBLAS for good; PyPI's CUDA build maps more before it can even
# load): refused in one line. Under AddressSanitizer (launch/sanitize.sh), whose shadow memory is
# address space too, no such limit can be set: skipped.
if ldd "$vit_train" | grep -q libasan; then
  echo "resource limits: ulimit -v cases skipped under AddressSanitizer"
else
  "$vit_train" "${smoke[@]}" --run-dir "$work/probe-mapped" --train.max_steps 1 --log.level debug \
    > "$work/mapped.txt" 2>&1 || { cat "$work/mapped.txt"; fail "the run to read VmSize failed"; }
  mapped_mib=$(sed -n 's/.*mapped now: \([0-9]*\) MiB.*/\1/p' "$work/mapped.txt" | head -n 1)
  [ -n "$mapped_mib" ] || { cat "$work/mapped.txt"; fail "no 'mapped now' in the debug log"; }
  limit_kib=$(( (mapped_mib + 128) * 1024 ))
  limited "-v $limit_kib" -- "$vit_train" "${smoke[@]}" --run-dir "$work/as" --train.threads 2
  one_error "the address-space limit (ulimit -v) is .*, below the about .* a rank maps"

  # 3. The same with train.memory_check = warn: it tries, and ends (a step that never ends is
  # bounded by twice dist.timeout_s, one line) rather than hang.
  limited "-v $limit_kib" -- "$vit_train" "${smoke[@]}" --run-dir "$work/as-warn" \
    --train.threads 2 --train.memory_check warn --dist.timeout_s 5
  grep -q "address-space limit (ulimit -v) is .*trying anyway" "$work/stdout" \
    || { cat "$work/stdout"; fail "no warning under train.memory_check = warn"; }
  if [ "$rc" -ne 0 ]; then  # (where the machine's OpenBLAS copes, the run just ends)
    one_error "rank 0: .* did not finish within 10 s: this rank computes alone"
  fi
fi

# 4. Open files: a soft limit of 20 is raised; a hard limit of 64 is one line.
limited "-Sn 20" -- "$vit_train" "${smoke[@]}" --run-dir "$work/files"
[ "$rc" -eq 0 ] || { cat "$work/stderr"; fail "soft ulimit -n 20: exit $rc"; }
limited "-n 64" -- "$vit_train" "${smoke[@]}" --run-dir "$work/files2"
one_error "the open-file limit (ulimit -n) is 64 (hard limit 64), below the 256 a rank needs"

# 5. The same through launch/train.sh, two ranks under mpirun (which stalls below ~32 itself).
limited "-Sn 20" -- "$src/launch/train.sh" -n 2 "$src/configs/smoke.ini" --data.dir "$work/data" \
  --run-dir "$work/files3"
[ "$rc" -eq 0 ] || { tail -n 5 "$work/stderr"; fail "train.sh under soft ulimit -n 20: exit $rc"; }
limited "-n 64" -- "$src/launch/train.sh" -n 2 "$src/configs/smoke.ini" --data.dir "$work/data" \
  --run-dir "$work/files4"
one_error "the open-file limit (ulimit -n) is 64 (hard limit 64)"
echo "resource limits: all cases passed"
