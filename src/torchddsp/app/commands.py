"""The ``torchddsp app`` subcommand: serve the web app on this machine.

``torchddsp app [--models FOLDER ...] [--port 8000] [--host 127.0.0.1] [--max-upload-mb 20]``
"""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any

from ..cli_arguments import add_command
from ..cli_arguments import add_flags
from ..cli_arguments import positive_float
from ..cli_arguments import positive_int
from ..validation import InputError

__all__ = ["add_app_command", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (``127.0.0.1``, ``::1``, ``localhost``).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
        (True, False, True)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _app(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: PLC0415  (the app extra)

        from .server import LOCAL_HOSTS  # noqa: PLC0415
        from .server import create_app  # noqa: PLC0415
    except ImportError as error:
        raise InputError(f"the web app needs the app extra ({error}): pip install 'torchddsp[app]'") from None
    from .catalog import ModelCatalog  # noqa: PLC0415

    catalog = ModelCatalog(args.models, bundled=not args.no_bundled)  # bad folders fail before serving
    local = is_loopback(args.host)
    app = create_app(
        catalog,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_duration_s=args.max_duration_s,
        allowed_hosts=LOCAL_HOSTS if local else ["*"],
    )
    if not local:
        print(f"warning: serving on {args.host}: anyone who can reach this machine can use the app")
    print(f"torchddsp app: http://{args.host}:{args.port}/ with models {catalog.names} (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_app_command(commands: Any) -> None:
    """Add ``app`` to the subcommands ``commands``."""
    app = add_command(commands, "app", "a local web page: timbre transfer and the modular synth", _app)
    app.add_argument(
        "--models",
        nargs="+",
        default=[],
        metavar="FOLDER",
        help="model folders to offer (runs, checkpoints, converted)",
    )
    add_flags(app, no_bundled="offer only the --models folders, not the bundled violin and flute")
    app.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: this machine only)")
    app.add_argument("--port", type=positive_int, default=8000)
    app.add_argument("--max-upload-mb", type=positive_float, default=20.0, help="largest upload accepted (MiB)")
    app.add_argument("--max-duration-s", type=positive_float, default=60.0, help="longest audio accepted (s)")
