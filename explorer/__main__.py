"""``python -m explorer``: the CLI, which opens the window when given no command."""
from explorer.cli import main

raise SystemExit(main())
