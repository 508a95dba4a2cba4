"""A timer function: not an HTTP function, so the local host does not serve it."""


def main(timer) -> None:
    raise AssertionError("never invoked by the local host")
