"""`twoway train`: train a network on one painting of the archive, with a progress bar."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import threading
import time
from pathlib import Path

from installation.texts import TwowayError

log = logging.getLogger(__name__)

MIN_SIZE, MAX_SIZE = 32, 4096  # pixels, the range of --size


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "train", parents=[common], help="train a network on one painting of the archive",
        description="Train a network on one image of the archive. A checkpoint is written after "
                    "every scale, so a stopped run continues with --resume. Ctrl+C saves the scale in "
                    "progress and stops.")
    command.add_argument("node", type=int, metavar="ID", help="number of the image to train on")
    command.add_argument("--network", default="multiscale", metavar="NAME",
                         help="network to train (default: multiscale)")
    command.add_argument("--size", type=int, metavar="PX",
                         help="long side to train at, in pixels (default: multiscale.size_cpu on a CPU, "
                              "multiscale.size_gpu on CUDA)")
    command.add_argument("--resume", action="store_true",
                         help="continue from the checkpoint of an earlier, stopped run")
    command.add_argument("--fresh", action="store_true",
                         help="start again although a checkpoint exists; the old one is kept, renamed")
    command.set_defaults(handler=train_network)


def train_network(args: argparse.Namespace, context) -> int:
    import numpy as np

    from models.base import Cancelled, Progress
    from models.registry import checkpoint_path, get_network, resolve_device

    if args.resume and args.fresh:
        raise TwowayError("train.conflicting_flags")
    settings = _with_size(context, args)
    node = context.archive.node(args.node)
    image = np.asarray(context.archive.load_image(node))
    device = resolve_device(settings.networks.device)
    network = get_network(args.network, settings, device)
    checkpoint = checkpoint_path(context.archive.folder, args.network, node.id)
    if not _prepare_checkpoint(context, args, checkpoint):
        return 0

    context.say("train.starting", network=args.network, node_id=node.id, device=device, path=checkpoint)
    log.info("train %s on node %d (%s) at %s", args.network, node.id, device, checkpoint)
    started = time.monotonic()
    stop = _stop_on_interrupt()
    try:
        with _ProgressBar() as bar:
            network.train([image], checkpoint, Progress(bar.report, stop.is_set))
    except (Cancelled, KeyboardInterrupt):
        log.info("train %s on node %d interrupted", args.network, node.id)
        context.say("train.interrupted", node_id=node.id, network=args.network)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    minutes = f"{(time.monotonic() - started) / 60:.1f}"
    log.info("train %s on node %d done in %s min", args.network, node.id, minutes)
    context.say("train.done", network=args.network, node_id=node.id, minutes=minutes, path=checkpoint)
    return 0


def _stop_on_interrupt() -> threading.Event:
    """Turn the first Ctrl+C into a cancel, so the network saves the stage it is in; a second one aborts."""
    stop = threading.Event()

    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handle)
    return stop


def _with_size(context, args):
    """Return the settings with --size applied to the network's training size."""
    settings = context.settings
    if args.size is None:
        return settings
    if not MIN_SIZE <= args.size <= MAX_SIZE:
        raise TwowayError("train.bad_size", size=args.size, minimum=MIN_SIZE, maximum=MAX_SIZE)
    if args.network != "multiscale":
        context.say("train.size_unused", network=args.network)
        return settings
    options = dataclasses.replace(settings.multiscale, size_cpu=args.size, size_gpu=args.size)
    return dataclasses.replace(settings, multiscale=options)


def _prepare_checkpoint(context, args, checkpoint: Path) -> bool:
    """Check --resume and --fresh against the checkpoint on disk; return False when there is nothing to train.

    --fresh renames the old checkpoint.
    """
    exists = checkpoint.exists()
    if exists and not args.fresh and _finished(checkpoint):
        if args.resume:
            context.say("train.already_finished", node_id=args.node, network=args.network, path=checkpoint)
            return False
        raise TwowayError("train.finished_exists", node_id=args.node, network=args.network, path=checkpoint)
    if args.resume:
        context.say("train.resuming" if exists else "train.nothing_to_resume", path=checkpoint)
        return True
    if not exists:
        return True
    if not args.fresh:
        raise TwowayError("train.checkpoint_exists", node_id=args.node, network=args.network, path=checkpoint)

    # Children made with the old checkpoint name it in their provenance, so it is kept.
    stamp = time.strftime("%Y%m%d-%H%M%S")
    renamed = checkpoint.with_name(f"{checkpoint.stem}.replaced-{stamp}{checkpoint.suffix}")
    checkpoint.rename(renamed)
    log.info("renamed old checkpoint %s to %s", checkpoint, renamed)
    context.say("train.kept_old", path=renamed)
    return True


def _finished(checkpoint: Path) -> bool:
    """Return whether the summary written beside `checkpoint` marks its training complete."""
    try:
        return json.loads(checkpoint.with_suffix(".json").read_text()).get("complete") is True
    except (OSError, ValueError, AttributeError):
        return False


class _ProgressBar:
    """A tqdm bar in thousandths, showing the network's stage text (scale, iteration, losses)."""

    def __enter__(self) -> "_ProgressBar":
        from tqdm import tqdm

        self._bar = tqdm(total=1000, unit="‰", bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}")
        return self

    def report(self, fraction: float, stage: str, preview) -> None:
        self._bar.update(round(fraction * 1000) - self._bar.n)
        self._bar.set_postfix_str(stage, refresh=False)

    def __exit__(self, *exc) -> None:
        self._bar.close()
