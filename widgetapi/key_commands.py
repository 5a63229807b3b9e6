"""`widgetapi gen-key`: a new SECRET_KEY, or a new Ed25519 key pair for EdDSA (keys.py makes them)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from widgetapi import keys, operations
from widgetapi.config import JWT_ALGORITHMS, Config


def add_gen_key(commands: Any, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the gen-key subcommand to `commands`, the `widgetapi` command's subparsers."""
    gen_key = commands.add_parser(
        "gen-key", help="print a new SECRET_KEY, or write a new Ed25519 key pair for EdDSA",
        formatter_class=formatter_class, epilog="environment variables read: none",
        description="HS256 (the default) prints a new random secret for SECRET_KEY. EdDSA writes a new "
                    "Ed25519 key pair as PEM files (the private key readable by its owner alone) and "
                    "prints the settings that use it. Existing files are never overwritten. Reads no "
                    "environment variables.")
    gen_key.add_argument("--algorithm", choices=JWT_ALGORITHMS, default="HS256",
                         help="HS256: a shared secret; EdDSA: a key pair whose public key other "
                              "services can fetch (default: %(default)s)")
    gen_key.add_argument("--private-key", type=Path, default=Path("jwt-ed25519.pem"), metavar="FILE",
                         help="EdDSA: the private key file to create, mode 0600 (default: %(default)s)")
    gen_key.add_argument("--public-key", type=Path, default=Path("jwt-ed25519.pub.pem"), metavar="FILE",
                         help="EdDSA: the public key file to create (default: %(default)s)")


def gen_key(config: Config, args: argparse.Namespace) -> int:
    if args.algorithm == "HS256":
        print(keys.new_secret())
        print("Set it as SECRET_KEY on every process (rotating: move the old key to SECRET_KEY_PREVIOUS).",
              file=sys.stderr)
        return 0
    private_key, public_key = args.private_key.absolute(), args.public_key.absolute()
    try:
        kid = keys.write_key_pair(private_key, public_key)
    except FileExistsError as error:
        raise operations.OperationFailed(f"{error.filename} already exists: "
                                         "gen-key never overwrites a key (name other files with "
                                         "--private-key and --public-key)") from None
    except (OSError, ValueError) as error:
        raise operations.OperationFailed(f"cannot write the key pair: {error}") from None
    print(f"Wrote a new Ed25519 key pair (kid {kid}):")
    print(f"  private key: {private_key}  (mode 0600: keep it secret, give it to every server process)")
    print(f"  public key:  {public_key}")
    print("Set on every server process:")
    print("  JWT_ALGORITHM=EdDSA")
    print(f"  JWT_PRIVATE_KEY_FILE={private_key}")
    print("Rotating: add the previous public key file to JWT_PREVIOUS_PUBLIC_KEY_FILES (comma-separated).")
    return 0
