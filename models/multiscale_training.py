"""Training of the multiscale network, coarse to fine, with a checkpoint after every scale.

Each stage adds the generator of the next finer scale and trains it together
with the `trained_together - 1` scales below it. Their learning rates are
lowered by `older_lr_factor` per step down. Training a few scales together lets
a few larger stages do the work of many small ones. The losses are WGAN-GP against a patch discriminator at
the newest scale plus a reconstruction loss that makes the fixed
reconstruction latent reproduce the painting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import pickle
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from installation.archive import write_atomic
from installation.config import MultiscaleSettings
from installation.texts import TwowayError
from models.base import Cancelled, Progress
from models.multiscale import (
    CHECKPOINT_FORMAT, NOISE_CHANNELS, Discriminator, Model, Pyramid, image_to_tensor,
    model_side, random_maps, scale_channels, scale_iterations, scale_sizes, tensor_to_image)

log = logging.getLogger(__name__)

SAMPLE_SEED = 1000  # seeds SAMPLE_SEED.. give the fixed noise of the sample grids
ADAM_BETAS = (0.5, 0.999)


def autocast_dtype(precision: str, device: str) -> torch.dtype | None:
    """Return the autocast dtype for `multiscale.precision` on `device`, or None for float32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    # "auto": bfloat16 where the device runs it natively. On a CPU without
    # AVX512-BF16 or AMX, bfloat16 convolutions ran about 6 times slower than float32.
    # TODO: this CUDA branch has never run, and the GPU figures (384 px in 10 minutes, 60 frames
    # per second) are not measured: no GPU was lent.
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if torch.backends.mkldnn.is_available() and _cpu_has_bf16() else None


def _cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class StageInterrupted(Exception):
    """A cancelled stage, carrying what is needed to continue it (`state`)."""

    def __init__(self, state: dict):
        super().__init__(f"scale {state['scale']} stopped at iteration {state['iteration']}")
        self.state = state


def gradient_penalty(discriminator: Discriminator, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Return the WGAN-GP penalty: (|grad D| - 1)^2 per pixel at random mixes of real and fake."""
    mix = torch.rand(1, 1, 1, 1, device=real.device)
    mixed = (mix * real + (1.0 - mix) * fake).requires_grad_(True)
    scores = discriminator(mixed)
    (gradients,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((gradients.float().norm(2, dim=1) - 1.0) ** 2).mean()


class Trainer:
    """Trains one pyramid on one painting and keeps `checkpoint` up to date after every scale."""

    def __init__(self, options: MultiscaleSettings, device: str, checkpoint: Path,
                 side: int | None = None):
        self.options = options
        self.device = device
        self.checkpoint = checkpoint
        self.side = side or model_side(options, device)
        self.dtype = autocast_dtype(options.precision, device)

    def run(self, painting: np.ndarray, progress: Progress) -> Model:
        """Train every scale not yet in the checkpoint and return the finished model."""
        options = self.options
        sizes = scale_sizes(*painting.shape[:2], self.side, options.coarsest_side, options.scale_factor)
        self.reals = [image_to_tensor(painting, size, self.device) for size in sizes]
        painting = tensor_to_image(self.reals[-1])

        state = self._resume(sizes)
        if state is None:
            pyramid = Pyramid(sizes, scale_channels(options, sizes), options.layers).to(self.device)
            reconstruction = [torch.randn(1, NOISE_CHANNELS, *sizes[0],
                                          generator=torch.Generator("cpu").manual_seed(options.seed))]
            reconstruction += [torch.zeros(1, NOISE_CHANNELS, *size) for size in sizes[1:]]
            discriminator_state, history, elapsed, partial = None, [], 0.0, None
        else:
            pyramid, reconstruction, discriminator_state, history, elapsed, partial = state
        reconstruction = [m.to(self.device) for m in reconstruction]
        self.iterations = scale_iterations(options, sizes)
        log.info("training multiscale at %s on %s: %d scales %s, iterations %s, channels %s, precision %s",
                 self.checkpoint, self.device, len(sizes), sizes, self.iterations, pyramid.channels,
                 self.dtype or "fp32")

        # Progress is weighted by the work of each stage: pixels times iterations.
        areas = [h * w * iterations for (h, w), iterations in zip(sizes, self.iterations)]
        for n in range(pyramid.depth, len(sizes)):
            started = time.monotonic()
            torch.manual_seed(options.seed + n)
            resumed, partial = (partial if partial is not None and partial["scale"] == n else None), None
            pyramid.add_scale(resumed["amplitude"] if resumed else self._amplitude(pyramid, reconstruction, n))
            discriminator = Discriminator(pyramid.channels[n], options.layers).to(self.device)
            if resumed:
                for generator, weights in zip(pyramid.generators, resumed["generators"]):
                    generator.load_state_dict(weights)
                discriminator.load_state_dict(resumed["discriminator"])
            elif discriminator_state is not None and pyramid.channels[n - 1] == pyramid.channels[n]:
                discriminator.load_state_dict(discriminator_state)

            part = progress.part(sum(areas[:n]) / sum(areas), sum(areas[:n + 1]) / sum(areas))
            try:
                losses = self._train_stage(pyramid, discriminator, reconstruction, n, part, resumed)
            except StageInterrupted as interrupted:
                # A cancelled (often pre-empted) stage is saved where it stopped, so the
                # worker's next try continues it instead of starting the scale again.
                elapsed += time.monotonic() - started
                self._save(pyramid, reconstruction, discriminator_state, history, elapsed, painting,
                           complete=False, depth=n, partial=interrupted.state)
                log.info("scale %d/%d cancelled at iteration %d; saved to %s", n + 1, len(sizes),
                         interrupted.state["iteration"], self.checkpoint)
                raise Cancelled() from None
            discriminator_state = discriminator.state_dict()
            elapsed += time.monotonic() - started
            history.append({"scale": n, "seconds": round(time.monotonic() - started, 1), **losses})

            complete = n == len(sizes) - 1
            self._save(pyramid, reconstruction, discriminator_state, history, elapsed, painting, complete)
            grid = self._save_samples(pyramid, reconstruction, n)
            log.info("scale %d/%d done in %.0f s: %s", n + 1, len(sizes), history[-1]["seconds"], losses)
            part.report(1.0, f"scale {n + 1}/{len(sizes)} done", grid)

        return Model(ready_to_decode(pyramid), reconstruction, painting, self.checkpoint, complete=True,
                     modified=self.checkpoint.stat().st_mtime_ns)

    # --- one stage -------------------------------------------------------------------------

    @torch.no_grad()
    def _amplitude(self, pyramid: Pyramid, reconstruction: list[torch.Tensor], n: int) -> float:
        """Return scale n's noise amplitude: `noise_weight` times the RMS error of the upsampled reconstruction."""
        if n == 0:
            return 1.0
        below = pyramid.run(reconstruction, stop=n)
        upsampled = F.interpolate(below, size=pyramid.sizes[n], mode="bilinear", align_corners=False)
        return self.options.noise_weight * F.mse_loss(upsampled, self.reals[n]).sqrt().item()

    def _optimizers(self, pyramid: Pyramid, discriminator: Discriminator, first: int, n: int):
        options = self.options
        iterations = self.iterations[n]
        groups = []
        for k in range(first, n + 1):
            groups.append({"params": pyramid.generators[k].parameters(),
                           "lr": options.learning_rate * options.older_lr_factor ** (n - k)})
        for k, generator in enumerate(pyramid.generators):
            generator.requires_grad_(k >= first)
        generator_optimizer = torch.optim.Adam(groups, lr=options.learning_rate, betas=ADAM_BETAS)
        discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), lr=options.learning_rate,
                                                   betas=ADAM_BETAS)
        return generator_optimizer, discriminator_optimizer

    def _set_learning_rates(self, optimizers, bases: list[list[float]], iteration: int, n: int) -> None:
        """Drop every learning rate to a tenth after `lr_drop_at` of the stage's iterations."""
        factor = 0.1 if iteration >= int(self.iterations[n] * self.options.lr_drop_at) else 1.0
        for optimizer, rates in zip(optimizers, bases):
            for group, rate in zip(optimizer.param_groups, rates):
                group["lr"] = rate * factor

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.split(":")[0], dtype=self.dtype)

    def _noise(self, pyramid: Pyramid, n: int) -> list[torch.Tensor]:
        return [torch.randn(1, NOISE_CHANNELS, *size, device=self.device) for size in pyramid.sizes[:n + 1]]

    def _train_stage(self, pyramid: Pyramid, discriminator: Discriminator, reconstruction: list[torch.Tensor],
                     n: int, progress: Progress, resumed: dict | None = None) -> dict:
        """Train scales first..n against scale n's discriminator; return the mean losses of the last tenth.

        Raises `StageInterrupted` with the stage's state when `progress` is cancelled.
        """
        options = self.options
        first = max(0, n - options.trained_together + 1)
        optimizers = self._optimizers(pyramid, discriminator, first, n)
        generator_optimizer, discriminator_optimizer = optimizers
        bases = [[group["lr"] for group in optimizer.param_groups] for optimizer in optimizers]
        start, records = 0, []
        if resumed:
            generator_optimizer.load_state_dict(resumed["generator_optimizer"])
            discriminator_optimizer.load_state_dict(resumed["discriminator_optimizer"])
            start, records = resumed["iteration"], [tuple(record) for record in resumed["records"]]
        with torch.no_grad():
            frozen_reconstruction = pyramid.run(reconstruction, stop=first) if first else None

        iterations = self.iterations[n]
        done = start
        pyramid.train()
        try:
            for iteration in range(start, iterations):
                progress.check()
                self._set_learning_rates(optimizers, bases, iteration, n)
                records.append(self._iteration(pyramid, discriminator, optimizers, reconstruction,
                                               frozen_reconstruction, first, n))
                done = iteration + 1
                if iteration % 10 == 0 or iteration == iterations - 1:
                    critic, _, adversarial, error = records[-1]
                    progress.report(done / iterations,
                                    f"scale {n + 1}/{len(pyramid.sizes)} iteration {done}/{iterations} "
                                    f"D {critic:+.3f} G {adversarial:+.3f} rec {error:.4f}")
        except Cancelled:
            raise StageInterrupted({
                "scale": n, "iteration": done, "amplitude": pyramid.amplitudes[n],
                "generators": [g.state_dict() for g in pyramid.generators],
                "discriminator": discriminator.state_dict(),
                "generator_optimizer": generator_optimizer.state_dict(),
                "discriminator_optimizer": discriminator_optimizer.state_dict(),
                "records": [list(record) for record in records]}) from None

        pyramid.eval()
        tail = np.array(records[-max(1, len(records) // 10):])
        return {"critic": float(tail[:, 0].mean()), "penalty": float(tail[:, 1].mean()),
                "adversarial": float(tail[:, 2].mean()), "reconstruction": float(tail[:, 3].mean()),
                "reconstruction_first": records[0][3]}

    def _iteration(self, pyramid, discriminator, optimizers, reconstruction, frozen_reconstruction,
                   first: int, n: int) -> tuple[float, float, float, float]:
        """Run one training iteration; return (critic, penalty, adversarial, reconstruction) losses."""
        options = self.options
        generator_optimizer, discriminator_optimizer = optimizers
        real = self.reals[n]
        # Discriminator: real patches up, generated patches down, gradients near norm 1.
        for _ in range(options.discriminator_steps):
            with torch.no_grad():
                fake = pyramid.run(self._noise(pyramid, n), stop=n + 1)
            with self._autocast():
                critic = discriminator(fake).float().mean() - discriminator(real).float().mean()
                penalty = gradient_penalty(discriminator, real, fake)
            discriminator_optimizer.zero_grad(set_to_none=True)
            (critic + options.gradient_penalty * penalty).backward()
            discriminator_optimizer.step()

        # Generators: fool the discriminator, and map the fixed latent onto the painting.
        for _ in range(options.generator_steps):
            noise = self._noise(pyramid, n)
            with torch.no_grad():
                frozen = pyramid.run(noise, stop=first) if first else None
            with self._autocast():
                fake = pyramid.run(noise, start=first, stop=n + 1, image=frozen)
                adversarial = -discriminator(fake).float().mean()
                rebuilt = pyramid.run(reconstruction, start=first, stop=n + 1, image=frozen_reconstruction)
            error = F.mse_loss(rebuilt.float(), real)
            generator_optimizer.zero_grad(set_to_none=True)
            (adversarial + options.reconstruction_weight * error).backward()
            generator_optimizer.step()

        return critic.item(), penalty.item(), adversarial.item(), error.item()

    # --- checkpoints and samples -----------------------------------------------------------

    def _resume(self, sizes: list[tuple[int, int]]):
        if not self.checkpoint.exists():
            return None
        stored = read_checkpoint(self.checkpoint, self.device)
        if [tuple(size) for size in stored["sizes"]] != sizes:
            raise TwowayError("multiscale.checkpoint_mismatch", path=self.checkpoint,
                              found=stored["sizes"], expected=sizes)
        expected = {"channels": scale_channels(self.options, sizes), "layers": self.options.layers}
        for key, value in expected.items():
            if stored[key] != value:
                raise TwowayError("multiscale.checkpoint_mismatch", path=self.checkpoint,
                                  found=f"{key} {stored[key]}", expected=f"{key} {value}")
        pyramid = pyramid_from_checkpoint(stored, self.device)
        log.info("resuming %s after scale %d of %d", self.checkpoint, pyramid.depth, len(sizes))
        return (pyramid, list(stored["reconstruction"]), stored["discriminator"],
                list(stored["history"]), float(stored["elapsed_s"]), stored.get("partial"))

    def _save(self, pyramid, reconstruction, discriminator_state, history, elapsed, painting, complete,
              depth: int | None = None, partial: dict | None = None) -> None:
        """Write the first `depth` scales (default all) and, for a stopped stage, its `partial` state."""
        depth = pyramid.depth if depth is None else depth
        state = {
            "format": CHECKPOINT_FORMAT,
            "settings": dataclasses.asdict(self.options),
            "side": self.side,
            "device": self.device,
            "sizes": [list(size) for size in pyramid.sizes],
            "channels": list(pyramid.channels),
            "layers": pyramid.layers,
            "generators": [g.state_dict() for g in pyramid.generators[:depth]],
            "amplitudes": list(pyramid.amplitudes[:depth]),
            "discriminator": discriminator_state,
            "reconstruction": [m.cpu() for m in reconstruction],
            "painting": torch.from_numpy(painting.copy()),
            "history": history,
            "elapsed_s": elapsed,
            "complete": complete,
            "partial": partial,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(self.checkpoint, buffer.getvalue())
        summary = {key: state[key] for key in ("format", "settings", "side", "device", "sizes", "channels",
                                                "amplitudes", "history", "elapsed_s", "complete")}
        summary["partial"] = {"scale": partial["scale"], "iteration": partial["iteration"]} if partial else None
        write_atomic(self.checkpoint.with_suffix(".json"), json.dumps(summary, indent=2).encode())

    def _save_samples(self, pyramid: Pyramid, reconstruction: list[torch.Tensor], n: int) -> np.ndarray:
        """Save a grid of the painting, its reconstruction and samples from fixed noise at scale n."""
        with torch.inference_mode():
            tiles = [tensor_to_image(self.reals[n]), tensor_to_image(pyramid.run(reconstruction, stop=n + 1))]
            for index in range(self.options.samples):
                noise = [m.to(self.device) for m in random_maps(pyramid.sizes[:n + 1], SAMPLE_SEED + index)]
                tiles.append(tensor_to_image(pyramid.run(noise, stop=n + 1)))
        grid = np.concatenate(tiles, axis=1)
        buffer = io.BytesIO()
        Image.fromarray(grid).save(buffer, format="PNG")
        folder = self.checkpoint.with_suffix(".samples")
        write_atomic(folder / f"scale-{n:02d}.png", buffer.getvalue())
        return grid


# --- reading checkpoints and encoding ------------------------------------------------------

def read_checkpoint(path: Path, device: str) -> dict:
    """Return a checkpoint's contents, or raise `TwowayError` when it is missing or unreadable."""
    try:
        stored = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise TwowayError("multiscale.checkpoint_missing", path=path)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise TwowayError("multiscale.checkpoint_damaged", path=path, reason=str(error)[:200])
    if not isinstance(stored, dict) or stored.get("format") != CHECKPOINT_FORMAT:
        raise TwowayError("multiscale.checkpoint_damaged", path=path,
                          reason=f"format {stored.get('format') if isinstance(stored, dict) else '?'}")
    return stored


def pyramid_from_checkpoint(stored: dict, device: str) -> Pyramid:
    pyramid = Pyramid([tuple(size) for size in stored["sizes"]], stored["channels"], stored["layers"])
    pyramid.to(device)
    for weights, amplitude in zip(stored["generators"], stored["amplitudes"]):
        pyramid.add_scale(amplitude).load_state_dict(weights)
    return pyramid.eval()


def ready_to_decode(pyramid: Pyramid) -> Pyramid:
    """Switch a trained pyramid to inference: no gradients, channels-last weights.

    Channels-last convolutions decoded about 1.35 times faster on the two-core
    AVX2 machine of `benchmarks/multiscale.py`. Every decode goes through this
    layout, so the same latent gives the same pixels whether the model was
    just trained or loaded.
    """
    pyramid.eval()
    pyramid.requires_grad_(False)
    return pyramid.to(memory_format=torch.channels_last)


def load_model(path: Path, device: str) -> Model:
    """Load a checkpoint written by `Trainer` for decoding on `device`."""
    stored = read_checkpoint(path, device)
    pyramid = ready_to_decode(pyramid_from_checkpoint(stored, device))
    reconstruction = [m.to(device) for m in stored["reconstruction"]]
    return Model(pyramid, reconstruction, stored["painting"].numpy(), path, bool(stored["complete"]),
                 modified=path.stat().st_mtime_ns)


def encode(pyramid: Pyramid, start: list[torch.Tensor], target: torch.Tensor, steps: int,
           progress: Progress) -> list[torch.Tensor]:
    """Find noise maps whose decoding is close to `target` by gradient descent from `start`."""
    maps = [m.detach().clone().requires_grad_(True) for m in start[:pyramid.depth]]
    optimizer = torch.optim.Adam(maps, lr=0.05)
    for step in range(steps):
        loss = F.l1_loss(pyramid.run(maps), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            progress.report(step / max(1, steps), "encode")
    return [m.detach() for m in maps]
