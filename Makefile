# The two quick-start commands, and the checks CI runs.
.PHONY: demo test lint bench setup fuzz

setup:
	scripts/setup.sh

# Set up, then run the push-to-main flow on the bundled example (throwaway remote, no accounts).
demo:
	scripts/setup.sh
	scripts/demo.sh

# Set up (system packages, venv, services) and run the whole test suite.
test:
	scripts/test.sh

lint:
	scripts/setup.sh --dev
	.venv/bin/ruff check leptonci tests bench
	.venv/bin/ruff format --check leptonci tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

# The long fuzz run: FUZZ_EXAMPLES random cases per fuzz test (the suite runs a fixed few).
FUZZ_EXAMPLES ?= 50000
fuzz:
	scripts/setup.sh --dev
	LEPTONCI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) .venv/bin/python -m pytest -p no:cacheprovider tests/fuzz

bench:
	scripts/setup.sh --dev
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done
