"""pytest plugin of the mutation runs (``-p devtools.mutation.few_examples``): property tests with few examples.

Every mutant runs the property tests that exercise it; at the suite's example counts that would cost seconds
per mutant. Loaded before any test module is imported, it makes :func:`tests.properties.support.examples`
give a tenth of the examples (at least 10), so a property still tries many inputs but a run stays short.
"""

from __future__ import annotations

from hypothesis import settings

import tests.properties.support as support

_DIVISOR = 10
_AT_LEAST = 10


def _few(n: int) -> settings:
    return settings(settings.get_profile(support.PROFILE), max_examples=max(_AT_LEAST, n // _DIVISOR))


support.examples = _few
