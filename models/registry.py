"""The networks by name, as chosen in the settings (`networks.network`).

Each entry maps a name to "module:Class"; the module is imported only when that
network is asked for, so listing names never imports torch. A network module
whose file is missing is left out of `available()`.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from installation.config import Settings
from installation.texts import TwowayError

NETWORKS: dict[str, str] = {
    "patches": "models.patches:PatchNetwork",
    "multiscale": "models.multiscale:MultiscaleNetwork",
}


def available() -> list[str]:
    """Return the names of the networks whose module is installed."""
    return [name for name, target in NETWORKS.items()
            if importlib.util.find_spec(target.partition(":")[0]) is not None]


def network_class(name: str) -> type:
    """Return the class of the network called `name`, or raise `TwowayError`."""
    if name not in available():
        raise TwowayError("networks.unknown", name=name, known=", ".join(available()))
    module_name, _, class_name = NETWORKS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_network(name: str, settings: Settings, device: str = "cpu"):
    """Return a new instance of the network called `name` on `device` ("cpu" or "cuda")."""
    return network_class(name)(settings, device)


def checkpoint_path(archive_folder: Path, network: str, node_id: int) -> Path:
    """Return where the checkpoint of `network` trained on node `node_id` is kept."""
    return Path(archive_folder) / "checkpoints" / network / f"node-{node_id}.pt"


def resolve_device(choice: str) -> str:
    """Turn `networks.device` ("auto", "cpu" or "cuda") into "cpu" or "cuda"; imports torch."""
    import torch

    if choice == "cpu":
        return "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise TwowayError("networks.no_cuda")
    return "cuda" if torch.cuda.is_available() else "cpu"
