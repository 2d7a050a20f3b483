"""Sub-commands of the ``crisiswatch`` command line, one module each.

Each module defines ``register(subparsers)``, which adds its sub-parser and sets
``func`` to a callable taking the parsed ``argparse.Namespace`` and returning an
exit code. :data:`COMMANDS` fixes the order ``crisiswatch --help`` lists them in.
"""

COMMANDS = (
    "worker",
    "broker",
    "replay",
    "generate",
    "backtest",
    "tune",
    "train_negativity",
    "score_text",
    "nab",
)
