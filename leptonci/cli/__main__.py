"""`python -m leptonci.cli` runs the CLI, as `python -m leptonci` does."""

from leptonci.cli import main

raise SystemExit(main())
