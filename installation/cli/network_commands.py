"""Subcommands that list the networks and make children from the command line.

`twoway generate` runs the network in this process (torch is imported only
when the command runs) and shows a progress bar.
"""

from __future__ import annotations

import argparse
import logging

from installation.cli import int_between

log = logging.getLogger(__name__)


def register(subparsers, common) -> None:
    command = subparsers.add_parser(
        "networks", parents=[common], help="list the networks and what each can do",
        description="List the networks by name with their version and abilities; "
                    "the one marked * is networks.network.")
    command.set_defaults(handler=list_networks)

    command = subparsers.add_parser(
        "generate", parents=[common], help="make children of an image and store them",
        description="Make children of one image with a network and store them in the archive "
                    "as its children. Nothing is stored if the command is interrupted.")
    command.add_argument("node", type=int, metavar="ID", help="number of the parent image")
    command.add_argument("--network", default=None,
                         help="network name, as listed by 'twoway networks' (default: networks.network)")
    command.add_argument("--count", type=int_between(1, 256), default=1,
                         help="number of children, 1 to 256 (default: 1)")
    command.add_argument("--seed", type=int_between(0, 2**63 - 1), default=None,
                         help="seed of the first child; child i uses seed+i (default: random)")
    command.add_argument("--size", type=int_between(32, 4096), default=None, metavar="PX",
                         help="long side of the children, in pixels, 32 to 4096 (default: networks.output_side)")
    command.add_argument("--vary-from", type=int_between(0, 32), default=None, metavar="SCALE",
                         help="multiscale only: first scale given new noise. 0 makes a new composition, "
                              "1 keeps the composition, higher scales change only finer brushwork "
                              "(default: multiscale.vary_from_scale)")
    command.set_defaults(handler=generate_children)


def list_networks(args: argparse.Namespace, context) -> int:
    from models.registry import available, network_class

    texts = context.texts
    print(texts("networks.list_header"))
    for name in available():
        network = network_class(name)
        abilities = network.abilities
        # A network without a description in the texts falls back to its class's English line.
        about_key = f"networks.about_{name}"
        about = texts(about_key) if about_key in texts else abilities.description
        description = ", ".join([
            texts("networks.needs_training" if abilities.needs_training else "networks.no_training_needed"),
            texts("networks.has_latent" if abilities.has_latent else "networks.no_latent_space"),
            about,
        ])
        mark = "*" if name == context.settings.networks.network else " "
        print(texts("networks.list_line", mark=mark, name=name, version=network.version,
                    description=description))
    return 0


def generate_children(args: argparse.Namespace, context) -> int:
    import secrets

    import numpy as np
    from tqdm import tqdm

    from installation.jobs import JobContext
    from installation.texts import TwowayError
    from models import job_handlers
    from models.base import Cancelled
    from models.registry import network_class, resolve_device

    settings = context.settings
    name = args.network or settings.networks.network
    if args.vary_from is not None and not network_class(name).abilities.has_scales:
        raise TwowayError("networks.no_scales", network=name)
    device = resolve_device(settings.networks.device)
    seed = args.seed if args.seed is not None else secrets.randbelow(2 ** 31)
    context.archive.node(args.node)  # rejects an unknown number before torch work starts
    context.say("networks.generating_one" if args.count == 1 else "networks.generating", count=args.count,
                node_id=args.node, network=name, device=device)

    with tqdm(total=100, unit="%", bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}") as bar:
        def report(fraction: float, stage: str, preview: np.ndarray | None = None) -> None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(stage, refresh=False)
            bar.refresh()

        job = JobContext(job_id="cli", archive=context.archive, device=device, settings=settings,
                         _report=report, _is_cancelled=lambda: False)
        params = {"node_id": args.node, "network": name, "count": args.count, "seed": seed,
                  "side": args.size}
        if args.vary_from is not None:
            params["vary_from"] = args.vary_from
        try:
            result = job_handlers.generate(params, job)
        except (Cancelled, KeyboardInterrupt):
            bar.close()
            context.say("networks.cancelled")
            return 130
    context.say("networks.generated", node_id=args.node,
                children=", ".join(str(node_id) for node_id in result["node_ids"]))
    return 0
