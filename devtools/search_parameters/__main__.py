"""``python -m devtools.search_parameters [--check]``: write (or check) the search parameter tables."""

import sys

from devtools.search_parameters.generate import main

sys.exit(main())
