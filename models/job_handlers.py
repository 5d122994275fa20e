"""The worker's "generate" and "train" jobs; run only inside the worker process.

Networks are kept between jobs, so a second child of the same parent reuses
what the network prepared for the first (the patch network's search indexes).
"""

from __future__ import annotations

import logging
import secrets
import time

import numpy as np
from PIL import Image

from installation.jobs import JobCancelled, JobContext
from installation.texts import TwowayError
from models.base import Progress
from models.registry import checkpoint_path, get_network, network_class

log = logging.getLogger(__name__)

_networks: dict[tuple[str, str], object] = {}


def network_for(name: str, context: JobContext):
    """Return the worker's instance of network `name`, made on first use."""
    key = (name, context.device)
    if key not in _networks:
        _networks[key] = get_network(name, context.settings, context.device)
    return _networks[key]


def generate(params: dict, context: JobContext) -> dict:
    """Make children of node `params["node_id"]` and store them; return {"node_ids": [...]}.

    Optional params: "network" (default networks.network), "count" (default 1),
    "seed" (default random), "side" in pixels (default networks.output_side) and
    "state_id", a live painting state of the node whose picture the children answer.
    A multiscale job also takes "vary_from", the first scale that gets new noise
    (default multiscale.vary_from_scale).
    Nothing is stored unless every child was made.
    """
    node_id = int(params["node_id"])
    name = params.get("network") or context.settings.networks.network
    count = int(params.get("count", 1))
    seed = params.get("seed")
    seed = secrets.randbelow(2 ** 31) if seed is None else int(seed)

    node = context.archive.node(node_id)
    state = None
    if params.get("state_id") is not None:
        # An answer to a live painting state starts from the picture of the canvas at that moment.
        state = context.archive.state(int(params["state_id"]))
        if state.node != node_id:
            raise TwowayError("capture.state_not_found", state_id=state.id)
        parent = np.asarray(context.archive.load_state_image(state))
    else:
        parent = np.asarray(context.archive.load_image(node))
    network = network_for(name, context)
    checkpoint = ""
    if network.abilities.needs_training:
        path = checkpoint_for(context.archive, name, node)
        network.load(path)
        checkpoint = str(path.relative_to(context.archive.folder))

    progress = Progress(context.progress, context.cancelled)
    vary_from = params.get("vary_from")
    if vary_from is not None and not hasattr(network, "vary_from"):
        log.warning("job %s: network %s has no scales to vary from; ignored vary_from=%s",
                    context.job_id, name, vary_from)
        vary_from = None
    default_vary_from = getattr(network, "vary_from", None)
    if vary_from is not None:
        network.vary_from = int(vary_from)
    try:
        children = network.generate(parent, count=count, seed=seed, side=params.get("side"),
                                    progress=progress)
    finally:
        if vary_from is not None:
            network.vary_from = default_vary_from

    node_ids = []
    for child in children:
        latent = child.latent.to_bytes() if child.latent is not None else None
        extra = {**child.extra, "live_state": state.number} if state is not None else child.extra
        stored = context.archive.add_machine_image(
            Image.fromarray(child.image), parents=[node_id], network=name,
            version=network.version, seed=child.seed, checkpoint=checkpoint,
            latent=latent, extra=extra)
        node_ids.append(stored.id)
    if state is not None and node_ids:
        context.archive.set_state_answer(state.id, node_ids[0])
    log.info("job %s: stored children %s of node %d (network %s, seed %d)",
             context.job_id, node_ids, node_id, name, seed)
    return {"node_ids": node_ids}


def checkpoint_for(archive, name: str, node):
    """Return the checkpoint of network `name` to make children of `node`, or raise `TwowayError`.

    A painting uses its own checkpoint. A machine image uses the checkpoint
    named in its provenance when the same network made it; otherwise the
    checkpoint of its nearest painting ancestor.
    """
    folder = archive.folder
    named = node.provenance.get("checkpoint") if node.kind == "machine" else ""
    if named and node.provenance.get("network") == name and (folder / named).exists():
        return folder / named
    seen, frontier = set(), [node]
    while frontier:
        current = frontier.pop(0)
        if current.id in seen:
            continue
        seen.add(current.id)
        if current.kind == "painting":
            path = checkpoint_path(folder, name, current.id)
            if path.exists():
                return path
        frontier.extend(archive.node(parent) for parent in current.parents)
    raise TwowayError("networks.not_trained", network=name, node_id=node.id)


def train(params: dict, context: JobContext) -> dict:
    """Train network `params["network"]` on node `params["node_id"]`, resuming its checkpoint."""
    node_id = int(params["node_id"])
    name = params.get("network") or context.settings.networks.network
    if not network_class(name).abilities.needs_training:
        raise TwowayError("networks.no_training", network=name)

    node = context.archive.node(node_id)
    image = np.asarray(context.archive.load_image(node))
    path = checkpoint_path(context.archive.folder, name, node_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    network = network_for(name, context)
    network.train([image], path, Progress(context.progress, context.cancelled))
    return {"node_id": node_id, "checkpoint": str(path)}


def sleep(params: dict, context: JobContext) -> dict:
    """Wait `params["seconds"]` while reporting progress; checks the worker without a network."""
    seconds = float(params.get("seconds", 1.0))
    steps = max(1, int(seconds / 0.05))
    for step in range(steps):
        if context.cancelled():
            raise JobCancelled()
        time.sleep(seconds / steps)
        context.progress((step + 1) / steps, "sleeping")
    return {"slept": seconds}
