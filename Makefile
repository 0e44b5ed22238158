# The two commands of the README:
#   make dev   - a local control plane with tenantgate installed and an example applied
#   make test  - lint, type-check and the whole test suite (unit, integration, end-to-end)
# Kubernetes binaries are built from Go modules on first use and cached in ~/.cache/tenantgate/.

.PHONY: dev test lint typecheck binaries venv crds chart

venv:
	@./scripts/bootstrap.sh

binaries: venv
	@.venv/bin/tenantgate build-binaries

dev: binaries
	@.venv/bin/tenantgate dev

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

typecheck: venv
	.venv/bin/mypy

crds: venv
	.venv/bin/tenantgate crds --output deploy/chart/crds

chart: venv
	.venv/bin/tenantgate chart

test: binaries lint typecheck
	.venv/bin/python -m pytest -p no:cacheprovider --timeout=900 tests
