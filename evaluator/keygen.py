"""`python -m evaluator keygen --out PATH`: make the Ed25519 key pair that signs results (R9).

The private key (base64 of the raw 32 bytes) is written to PATH, readable by its owner only (0600), and is
never printed unless `--print-private` is passed. Paste the file's content into the Space secret
`RESULTS_SIGNING_KEY`. The public key is printed: set it as the Space variable `RESULTS_PUBLIC_KEY`; the
store publishes it in the results dataset card, where `python -m evaluator verify` finds it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from openasr_core.signing import PRIVATE_KEY_ENV, PUBLIC_KEY_ENV, fingerprint, generate_keypair, write_private_key


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluator keygen", description="Make a result-signing key pair.")
    parser.add_argument("--out", type=Path, help="file to write the private key to (created with mode 0600)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument(
        "--print-private", action="store_true", help="also print the private key (careful: terminals log)"
    )
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Generate a key pair; returns the exit status (2 when there is nowhere to put the private key)."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    if args.out is None and not args.print_private:
        print("error: pass --out PATH to write the private key (or --print-private to print it)", file=out)
        return 2
    private_b64, public_b64 = generate_keypair()
    if args.out is not None:
        try:
            write_private_key(args.out, private_b64, force=args.force)
        except FileExistsError:
            print(
                f"error: {args.out} exists; pass --force to replace it (results signed with it stop verifying)",
                file=out,
            )
            return 2
        print(
            f"private key written to {args.out} (mode 0600): put its content in the Space secret {PRIVATE_KEY_ENV}",
            file=out,
        )
    if args.print_private:
        print(f"{PRIVATE_KEY_ENV}={private_b64}", file=out)
    print(f"{PUBLIC_KEY_ENV}={public_b64}", file=out)
    print(f"fingerprint: {fingerprint(public_b64)}", file=out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
