"""``python -m devtools.funchost --root . --port 7071``: serve the function folders under ``--root``.

Where Functions Core Tools are installed, ``func start`` serves the same folders from the same files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .discovery import HostConfigError
from .server import HostOptions, run
from .settings import SettingsError


def parse_args(argv: list[str] | None = None) -> HostOptions:
    parser = argparse.ArgumentParser(prog="python -m devtools.funchost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="function app root (holds host.json)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: Host.LocalHttpPort of the settings file, else 7071)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--settings", type=Path, default=None,
                       help="settings file (default <root>/local.settings.json when it exists)")
    group.add_argument("--no-settings", action="store_true", help="use the environment only")
    parser.add_argument("--method-mismatch-status", type=int, choices=(404, 405), default=405,
                        help="status when the path matches but the method does not (Azure itself answers 404)")
    args = parser.parse_args(argv)
    settings = args.settings.resolve() if args.settings else None
    return HostOptions(root=args.root.resolve(), host=args.host, port=args.port, settings=settings,
                       use_settings=not args.no_settings, method_mismatch_status=args.method_mismatch_status)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        return run(options)
    except (HostConfigError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
