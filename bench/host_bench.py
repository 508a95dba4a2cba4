"""``python -m bench.host_bench [--requests N]``: the local host's added latency for a small read, with the
Functions runtime executing the function and with the in-process emulation it replaced, side by side.

The measurement itself is ``devtools.funchost.bench`` (its docstring says how the earlier host is
recovered from the git history and how the figures are taken).
"""

from __future__ import annotations

import sys

from devtools.funchost.bench import main

if __name__ == "__main__":
    sys.exit(main())
