"""``crisiswatch broker fetch|start|stop|status``: the local single-node Kafka broker (deploy/kafka/broker.py)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BROKER_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "broker.py"


def load_broker_module() -> ModuleType:
    """``deploy/kafka/broker.py`` as a module (it is a standalone script, not part of the package)."""
    name = "crisiswatch_local_broker"
    if name in sys.modules:
        return sys.modules[name]
    if not BROKER_SCRIPT.exists():
        raise SystemExit(f"error: {BROKER_SCRIPT} not found: `crisiswatch broker` works from a source checkout")
    spec = importlib.util.spec_from_file_location(name, BROKER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("broker", help="fetch, start, stop or check the local Kafka broker",
                                   description=__doc__)
    if BROKER_SCRIPT.exists():
        load_broker_module().add_arguments(parser)
    parser.set_defaults(func=lambda args: load_broker_module().run(args))
