#!/usr/bin/env bash
# README.md and docs/*.md against the repository and the built programs (tests/e2e/readme_check.py):
# README.md's length, relative links and anchors, no machine's absolute paths, the launch/, slurm/,
# bench/ and configs/ paths it names, every config key in docs/configuration.md (and no other),
# every unit of src/ in docs/layout.md, and the flags of README.md's commands against the
# programs' --help and the scripts' usage texts.
# Usage: readme_e2e.sh VIT_TRAIN MAKE_TEST_DATA SOURCE_DIR (vit-eval and vit-predict beside VIT_TRAIN)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

python3 "$src/tests/e2e/readme_check.py" "$src" "$vit_train" \
  || fail "README.md or docs/*.md disagrees with the repository (the lines above say where)"
