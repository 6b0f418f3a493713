"""Entry point: `python scripts/validate_deploy` or `python -m validate_deploy`
(with scripts/ on the path); runs validate_deploy.cli.main."""

import sys
from pathlib import Path

if __package__:
    from .cli import main
else:
    # Run as a directory: make the package importable by its name.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from validate_deploy.cli import main

sys.exit(main())
