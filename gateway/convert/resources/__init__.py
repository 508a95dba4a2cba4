"""One module per bridged resource type, each with its R4 element map (``MAP``); see :mod:`..registry`."""
