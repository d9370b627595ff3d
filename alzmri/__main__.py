"""``python -m alzmri ...`` runs the command-line interface."""

from alzmri.cli import main

raise SystemExit(main())
