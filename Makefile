# Conveniences over scripts/; the scripts are what the README and CI use,
# because a fresh Debian 12 machine may have no make.
.PHONY: test demo lint typecheck docs bench clean

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

lint:
	.venv/bin/ruff check .

typecheck:
	bash scripts/typecheck.sh

docs:
	.venv/bin/python -m classroomd.daemon.asyncapi > docs/asyncapi.yaml
	.venv/bin/python -m classroomd.daemon.openapi > docs/openapi.json

bench:
	for b in bench/*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

clean:
	rm -rf .venv build .pytest_cache .mypy_cache .ruff_cache
