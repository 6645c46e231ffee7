"""The ``cjsim`` command: parse the arguments, run the command, turn errors into exit codes.

This is the one module of the harness allowed to read the wall clock: it hands
``time.perf_counter`` to the commands that time what they run for the user (``wall_seconds``),
outside the event log. It imports only the grammar (``sim/commands/cli_parser.py``) until a command
runs, so ``cjsim --help`` answers at once. Exit codes: 0 when a run meets its expectations, 1
when one fails (or on an internal error, which prints its traceback and says it is a bug), 2
on bad input (one located line per problem, no traceback).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Sequence

from sim.commands.cli_parser import EXIT_BAD_INPUT, build_parser

__all__ = ["main"]

EXIT_OK, EXIT_FAILED = 0, 1


# One BLAS thread unless the user asks for more: nothing the engine decides goes through BLAS
# (docs/decisions/0006), and on a busy two-core machine a threaded 100x100 solve took 72 ms
# against 0.47 ms on one thread. Set before numpy loads OpenBLAS, which reads it once; swarm
# workers inherit it.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if "numpy" not in sys.modules:  # too late otherwise (and then not ours to change)
        for variable in BLAS_THREAD_VARIABLES:
            os.environ.setdefault(variable, "1")
    try:
        from sim.commands.dispatch import dispatch, is_bad_input

        try:
            return dispatch(args, argv, wall_clock=time.perf_counter)
        except Exception as exc:
            if not is_bad_input(exc):
                raise
            print(exc, file=sys.stderr)
            return EXIT_BAD_INPUT
    except BrokenPipeError:  # `cjsim ... | head`: the reader has what it wanted
        # Python would complain again while flushing stdout at exit; point it at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception:  # a bug of ours: the traceback is for us, and the user is told so
        traceback.print_exc()
        print(
            "cjsim: internal error: the traceback above is a bug in cjsim, not a problem with "
            "your input; please report it with the command you ran",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
