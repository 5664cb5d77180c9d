"""``python -m explorer.cli`` (as under ``torchrun ... -m explorer.cli train ...``)."""
from .entry import main

raise SystemExit(main())
