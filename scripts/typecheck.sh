#!/usr/bin/env bash
# mypy cannot follow setuptools' package-dir mapping, so it reads the sources
# through a tree of symlinks laid out as the installed `classroomd` package.
set -euo pipefail
cd "$(dirname "$0")/.."
# TYPECHECK_DIR (a folder name under build/) lets several checks run at once without sharing a tree.
dir=build/${TYPECHECK_DIR:-typecheck}
root=$PWD
rm -rf "$dir/classroomd" && mkdir -p "$dir/classroomd"
cp classroomd/*.py classroomd/py.typed "$dir/classroomd/"
for d in core services daemon drivers devices bus config simulators web central; do
  ln -s "$root/$d" "$dir/classroomd/$d"
done
cd "$dir" && "$root/.venv/bin/mypy" -p classroomd
