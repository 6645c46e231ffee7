"""The ``cjsim`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sim.demo import run_demo

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cjsim",
        description="Deterministic simulation harness for an LLM-driven Comparative Judgement "
        "pipeline. With no command, runs the built-in demo.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the built-in demo: concurrent counter updates with and without a row lock",
        description="Sixty-four concurrent read-increment-write transactions on the simulated "
        "store, first without a row lock (updates are lost), then with one (none are).",
    )
    demo.add_argument("--seed", type=int, default=42, help="root seed (default: 42)")
    demo.add_argument(
        "--increments", type=int, default=64, help="concurrent increments per counter (default: 64)"
    )
    return parser


def _demo(seed: int, increments: int) -> int:
    if increments < 1:
        print(f"cjsim: error: --increments: must be >= 1, got {increments}", file=sys.stderr)
        return 2
    result = run_demo(seed=seed, increments=increments)
    print(f"cjsim demo (seed {result.seed}): {result.increments} concurrent increments per counter")
    print(
        f"  without row lock: {result.without_lock:>4} / {result.increments}"
        f"  ({result.increments - result.without_lock} lost updates)"
    )
    print(f"  with row lock:    {result.with_lock:>4} / {result.increments}")
    print(f"  virtual time {result.virtual_seconds:.3f} s, {result.events} events")
    print(f"  fingerprint {result.fingerprint}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command in (None, "demo"):
        return _demo(getattr(args, "seed", 42), getattr(args, "increments", 64))
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
