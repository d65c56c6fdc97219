"""`python -m jaft VERB ...`: the same front door as the `jaft` console script."""
import sys

from jaft.cli import main

sys.exit(main())
