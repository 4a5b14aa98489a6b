#!/usr/bin/env bash
# mypy cannot follow setuptools' package-dir mapping, so it reads the sources
# through a tree of symlinks laid out as the installed `classroomd` package.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build/typecheck && mkdir -p build/typecheck/classroomd
cp classroomd/*.py classroomd/py.typed build/typecheck/classroomd/
for d in core services daemon drivers devices bus config simulators web central; do
  ln -s "../../../$d" "build/typecheck/classroomd/$d"
done
cd build/typecheck && ../../.venv/bin/mypy -p classroomd
