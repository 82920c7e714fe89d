"""``python -m cli ...`` runs the ``charword`` command."""
import sys

from cli.main import main

sys.exit(main())
