"""`python -m leptonci` runs the CLI."""

from leptonci.cli import main

raise SystemExit(main())
