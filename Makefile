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

# The long fuzz run: FUZZ_EXAMPLES random cases per parser test (the suite runs a fixed few),
# and FUZZ_CLI_EXAMPLES whole `leptonci validate` runs (each renders with kustomize: ~0.3 s).
# Both parts run; the target fails if either did. A long test outlasts pytest-timeout's
# 900 s: --timeout=0, each case keeps its own bound (tests/fuzz/outcome.py).
FUZZ_EXAMPLES ?= 50000
FUZZ_CLI_EXAMPLES ?= 10000
fuzz:
	scripts/setup.sh --dev
	LEPTONCI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) .venv/bin/python -m pytest -p no:cacheprovider --timeout=0 \
		tests/fuzz --ignore=tests/fuzz/test_cli.py; parsers=$$?; \
	LEPTONCI_FUZZ_EXAMPLES=$(FUZZ_CLI_EXAMPLES) .venv/bin/python -m pytest -p no:cacheprovider --timeout=0 \
		tests/fuzz/test_cli.py; cli=$$?; \
	test $$parsers -eq 0 && test $$cli -eq 0

bench:
	scripts/setup.sh --dev
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done
