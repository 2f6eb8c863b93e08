# shellcheck shell=bash
# source-commit.sh -- sourced by the GPU scripts: vit_source_commit ROOT prints the commit that a
# summary names. The device machine gets a copy of the working tree whose .git may be older than
# the tree, so launch/gpu-prepare.sh writes the commit into .gpu/commit (carried with .gpu) and that
# file wins; elsewhere git answers. "(modified)" marks uncommitted changes.
vit_source_commit() {
  local root=$1
  if [ -s "$root/.gpu/commit" ]; then
    head -n 1 "$root/.gpu/commit"
    return 0
  fi
  echo "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (modified)')"
}
