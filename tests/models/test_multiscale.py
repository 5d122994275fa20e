"""The multiscale network on a tiny configuration: 3 scales up to 32 pixels, trained in seconds."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from installation.config import load_settings
from installation.texts import TwowayError
from models.base import Cancelled, Latent, Progress
from models.multiscale import MultiscaleNetwork, random_maps, scale_sizes
from models.registry import checkpoint_path, get_network

TINY = [
    "multiscale.size_cpu=32", "multiscale.coarsest_side=12", "multiscale.scale_factor=0.65",
    "multiscale.channels=8", "multiscale.fine_channels=8", "multiscale.layers=3",
    "multiscale.iterations=40", "multiscale.learning_rate=0.003", "multiscale.reconstruction_weight=50",
    "multiscale.samples=1", "multiscale.encode_steps=5",
]

# Tiny tensors run several times faster on one thread than on two busy ones.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_settings():
    return load_settings(overrides=TINY)


@pytest.fixture(scope="module")
def painting():
    from tests.conftest import painting_paths

    return np.asarray(Image.open(painting_paths()[0]).convert("RGB"))


@pytest.fixture(scope="module")
def trained(tiny_settings, painting, tmp_path_factory):
    checkpoint = tmp_path_factory.mktemp("multiscale") / "node-1.pt"
    network = MultiscaleNetwork(tiny_settings, "cpu")
    network.train([painting], checkpoint)
    return network, checkpoint


def test_scale_sizes_keep_aspect():
    sizes = scale_sizes(300, 400, 192, 24, 0.7)
    assert sizes[-1] == (144, 192)
    assert min(sizes[0]) >= 24
    assert all(abs(w / h - 4 / 3) < 0.1 for h, w in sizes)


def test_registry_returns_multiscale(tiny_settings):
    assert isinstance(get_network("multiscale", tiny_settings, "cpu"), MultiscaleNetwork)


def test_training_lowers_reconstruction_error(trained):
    _, checkpoint = trained
    history = json.loads(checkpoint.with_suffix(".json").read_text())["history"]
    assert history[0]["reconstruction"] < 0.5 * history[0]["reconstruction_first"]
    assert history[-1]["reconstruction"] < history[-1]["reconstruction_first"]


def test_training_writes_sample_grid_per_scale(trained):
    network, checkpoint = trained
    grids = sorted(checkpoint.with_suffix(".samples").glob("scale-*.png"))
    assert len(grids) == len(network.sizes)


def test_cancelled_stage_resumes_where_stopped(tiny_settings, painting, tmp_path):
    checkpoint = tmp_path / "node-1.pt"
    stages = []
    progress = Progress(lambda fraction, stage, preview: stages.append(stage), cancelled=lambda: len(stages) >= 3)
    with pytest.raises(Cancelled):
        MultiscaleNetwork(tiny_settings, "cpu").train([painting], checkpoint, progress)
    stopped = json.loads(checkpoint.with_suffix(".json").read_text())["partial"]
    assert stopped == {"scale": 0, "iteration": 21}

    resumed = []
    MultiscaleNetwork(tiny_settings, "cpu").train(
        [painting], checkpoint, Progress(lambda fraction, stage, preview: resumed.append(stage)))
    assert resumed[0].startswith("scale 1/2 iteration 31/")


def test_checkpoint_round_trip(trained, tiny_settings):
    network, checkpoint = trained
    loaded = MultiscaleNetwork(tiny_settings, "cpu")
    loaded.load(checkpoint)
    latent = network.reconstruction_latent()
    assert np.array_equal(loaded.decode(latent), network.decode(latent))


def test_same_latent_same_image(trained):
    network, _ = trained
    child = network.generate_from_latent(network.reconstruction_latent(), seed=7)
    stored = Latent.from_bytes(child.latent.to_bytes())
    assert np.array_equal(network.decode(stored), child.image)


def test_same_seed_same_child(trained):
    network, _ = trained
    first = network.generate_from_latent(network.reconstruction_latent(), seed=3)
    second = network.generate_from_latent(network.reconstruction_latent(), seed=3)
    assert np.array_equal(first.image, second.image)


def test_different_seeds_differ(trained):
    network, _ = trained
    first = network.generate_from_latent(network.reconstruction_latent(), seed=1)
    second = network.generate_from_latent(network.reconstruction_latent(), seed=2)
    assert not np.array_equal(first.image, second.image)


def test_generate_from_painting_image(trained, painting):
    network, _ = trained
    children = network.generate(painting, count=2, seed=0, side=40)
    assert [max(child.image.shape[:2]) for child in children] == [40, 40]


def test_child_of_child_reuses_latent(trained):
    network, _ = trained
    child = network.generate_from_latent(network.reconstruction_latent(), seed=11, side=40)
    latent = network.reconstruct(child.image)
    assert latent.arrays.keys() == child.latent.arrays.keys()
    assert all(np.array_equal(latent.arrays[name], child.latent.arrays[name]) for name in latent.arrays)


def test_interpolation_endpoints(trained):
    network, _ = trained
    start = network.reconstruction_latent()
    end = network.child_latent(start, seed=5)
    assert np.array_equal(network.decode(network.interpolate(start, end, 0.0)), network.decode(start))
    assert np.array_equal(network.decode(network.interpolate(start, end, 1.0)), network.decode(end))


def test_morph_frames_start_and_end(trained):
    network, _ = trained
    start = network.reconstruction_latent()
    end = network.child_latent(start, seed=5)
    frames = list(network.morph(start, end, 5))
    assert len(frames) == 5
    assert np.array_equal(frames[0], network.decode(start))
    assert np.array_equal(frames[-1], network.decode(end))


def test_vary_from_scale_keeps_coarse_noise(trained):
    network, _ = trained
    parent = network.reconstruction_latent()
    child = network.child_latent(parent, seed=9, vary_from=1)
    assert np.array_equal(child.arrays["scale_00"], parent.arrays["scale_00"])
    assert not np.array_equal(child.arrays["scale_01"], parent.arrays["scale_01"])


def test_gain_strengthens_first_varied_scale(trained):
    network, _ = trained
    parent = network.reconstruction_latent()
    fresh = [m.numpy()[0] for m in random_maps(network.sizes, seed=9)]
    child = network.child_latent(parent, seed=9, vary_from=1)
    gain = network.child_noise_gain(1)
    assert 1.0 < gain < 100.0
    assert np.allclose(child.arrays["scale_01"], gain * fresh[1])
    assert all(np.array_equal(child.arrays[f"scale_{n:02d}"], fresh[n]) for n in range(2, len(fresh)))


def test_new_composition_takes_unit_noise(trained):
    network, _ = trained
    child = network.child_latent(network.reconstruction_latent(), seed=9, vary_from=0)
    fresh = random_maps(network.sizes, seed=9)
    assert network.child_noise_gain(0) == 1.0
    assert all(np.array_equal(child.arrays[f"scale_{n:02d}"], m.numpy()[0]) for n, m in enumerate(fresh))


def test_children_keep_composition_by_default(trained):
    network, _ = trained
    parent = network.reconstruction_latent()
    child = network.child_latent(parent, seed=4)
    assert np.array_equal(child.arrays["scale_00"], parent.arrays["scale_00"])


def _change(network, seeds) -> float:
    """Mean absolute difference of children from the painting, over its pixel standard deviation."""
    painting = network.decode(network.reconstruction_latent()).astype(np.float32)
    differences = [np.abs(network.decode(network.child_latent(network.reconstruction_latent(), seed))
                          .astype(np.float32) - painting).mean() for seed in seeds]
    return float(np.mean(differences) / painting.reshape(-1, 3).std(axis=0).mean())


@pytest.mark.parametrize("change", [0.1, 0.3])
def test_children_move_by_child_change(trained, change):
    _, checkpoint = trained
    network = MultiscaleNetwork(load_settings(overrides=TINY + [f"multiscale.child_change={change}"]), "cpu")
    network.load(checkpoint)
    assert _change(network, seeds=range(20, 24)) == pytest.approx(change, rel=0.3)


def test_unreachable_child_change_is_logged(trained, caplog):
    _, checkpoint = trained
    network = MultiscaleNetwork(load_settings(overrides=TINY + ["multiscale.child_change=0"]), "cpu")
    network.load(checkpoint)
    with caplog.at_level("WARNING", logger="models.multiscale"):
        gain = network.child_noise_gain(1)
    assert gain == pytest.approx(1.0, rel=0.01)
    assert "out of reach" in caplog.text


def test_gain_follows_child_change(trained):
    _, checkpoint = trained
    gains = []
    for change in (0.1, 0.3):
        network = MultiscaleNetwork(load_settings(overrides=TINY + [f"multiscale.child_change={change}"]), "cpu")
        network.load(checkpoint)
        gains.append(network.child_noise_gain(1))
    assert gains[0] < gains[1]


def test_breathing_stays_near_center(trained):
    network, _ = trained
    center = network.reconstruction_latent()
    walk = network.breathe(center, seed=0)
    for _ in range(400):
        latent = next(walk)
    offset = max(np.abs(latent.arrays[name] - center.arrays[name]).max() for name in center.arrays)
    assert 0.0 < offset < 2.0


def test_latent_of_other_size_rejected(trained):
    network, _ = trained
    wrong = Latent({"scale_00": np.zeros((3, 5, 5), np.float32)}, frozenset({"scale_00"}))
    with pytest.raises(TwowayError) as raised:
        network.decode(wrong)
    assert raised.value.key == "multiscale.latent_mismatch"


def test_untrained_network_rejects_decode(tiny_settings, trained):
    network, _ = trained
    with pytest.raises(TwowayError) as raised:
        MultiscaleNetwork(tiny_settings, "cpu").decode(network.reconstruction_latent())
    assert raised.value.key == "multiscale.not_trained"


def test_damaged_checkpoint_rejected(tiny_settings, tmp_path):
    damaged = tmp_path / "node-1.pt"
    damaged.write_bytes(b"not a checkpoint")
    with pytest.raises(TwowayError) as raised:
        MultiscaleNetwork(tiny_settings, "cpu").load(damaged)
    assert raised.value.key == "multiscale.checkpoint_damaged"


# --- the train command, in real subprocesses ------------------------------------------------

def _train_command(folder, node_id, *flags, settings=()) -> list[str]:
    overrides = [item for entry in TINY + [f"archive.path={folder}", "networks.device=cpu", *settings]
                 for item in ("--set", entry)]
    return [sys.executable, "-m", "installation", *overrides, "train", str(node_id), *flags]


def test_train_resumes_after_kill(archive, paintings):
    node = archive.import_photo(paintings[1])
    checkpoint = checkpoint_path(archive.folder, "multiscale", node.id)
    command = _train_command(archive.folder, node.id)

    # Kill the run as soon as the first scale's checkpoint is on disk.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ONE_THREAD)
    deadline = time.monotonic() + 300
    while not checkpoint.with_suffix(".json").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = json.loads(checkpoint.with_suffix(".json").read_text())
    assert not killed["complete"]

    resumed = subprocess.run(_train_command(archive.folder, node.id, "--resume"), capture_output=True,
                             text=True, env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr
    finished = json.loads(checkpoint.with_suffix(".json").read_text())
    assert finished["complete"]
    assert finished["history"][0] == killed["history"][0]


def test_train_refuses_to_overwrite_checkpoint(archive, paintings):
    node = archive.import_photo(paintings[2])
    checkpoint = checkpoint_path(archive.folder, "multiscale", node.id)
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"an earlier model")
    result = subprocess.run(_train_command(archive.folder, node.id), capture_output=True, text=True,
                            env=ONE_THREAD)
    assert result.returncode == 1
    assert checkpoint.read_bytes() == b"an earlier model"


def test_train_fresh_keeps_old_checkpoint(archive, paintings, capsys):
    from installation.cli import main

    node = archive.import_photo(paintings[3])
    checkpoint = checkpoint_path(archive.folder, "multiscale", node.id)
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"an earlier model")
    overrides = [item for entry in TINY + [f"archive.path={archive.folder}", "networks.device=cpu"]
                 for item in ("--set", entry)]
    assert main([*overrides, "train", str(node.id), "--fresh"]) == 0
    renamed = list(checkpoint.parent.glob(f"node-{node.id}.replaced-*.pt"))
    assert [path.read_bytes() for path in renamed] == [b"an earlier model"]
    assert json.loads(checkpoint.with_suffix(".json").read_text())["complete"]

    # Once finished, training again needs --fresh, and --resume has nothing to do.
    trained = checkpoint.read_bytes()
    capsys.readouterr()
    english = [*overrides, "--set", "general.language=en"]
    assert main([*english, "train", str(node.id)]) == 1
    assert "already has a finished multiscale checkpoint" in capsys.readouterr().err
    assert main([*english, "train", str(node.id), "--resume"]) == 0
    assert "nothing to resume" in capsys.readouterr().out
    assert checkpoint.read_bytes() == trained


def test_worker_jobs_make_latent_morph(archive, paintings):
    from installation.jobs import JobContext
    from installation.morph import _latent_renderer
    from models import job_handlers

    settings = load_settings(overrides=TINY + ["networks.network=multiscale", "networks.output_side=40"])
    painting = archive.import_photo(paintings[4])
    context = JobContext("test", archive, "cpu", settings, lambda *report: None, lambda: False)
    job_handlers.train({"node_id": painting.id, "network": "multiscale"}, context)
    made = job_handlers.generate({"node_id": painting.id, "seed": 4}, context)
    child = archive.node(made["node_ids"][0])

    image = np.asarray(archive.load_image(painting))
    render = _latent_renderer(archive, painting, child, image, settings, "cpu")
    network = MultiscaleNetwork(settings, "cpu")
    network.load(checkpoint_path(archive.folder, "multiscale", painting.id))
    stored = Latent.from_bytes((archive.folder / child.provenance["latent"]).read_bytes())
    assert np.array_equal(render(0.0), network.decode(network.reconstruction_latent()))
    assert np.array_equal(render(1.0), network.decode(stored))


def test_check_latent_rejects_other_layout(trained):
    network, _ = trained
    latent = network.reconstruction_latent()
    network.check_latent(latent)
    truncated = Latent({"scale_00": latent.arrays["scale_00"]}, frozenset({"scale_00"}))
    with pytest.raises(TwowayError, match="scale_01"):
        network.check_latent(truncated)


def test_morph_of_outdated_latent_uses_flow(archive, paintings):
    from installation.frames import FrameRing
    from installation.jobs import JobContext
    from installation.morph import render_morph
    from models import job_handlers

    settings = load_settings(overrides=TINY + ["networks.network=multiscale", "networks.output_side=40"])
    painting = archive.import_photo(paintings[2])
    context = JobContext("test", archive, "cpu", settings, lambda *report: None, lambda: False)
    job_handlers.train({"node_id": painting.id, "network": "multiscale"}, context)
    child_ids = job_handlers.generate({"node_id": painting.id, "seed": 3, "count": 2}, context)["node_ids"]
    outdated, sibling = archive.node(child_ids[0]), archive.node(child_ids[1])
    # The latent of a child of a partly trained model: the finer scales are missing.
    path = archive.folder / outdated.provenance["latent"]
    latent = Latent.from_bytes(path.read_bytes())
    path.write_bytes(Latent({"scale_00": latent.arrays["scale_00"]}, frozenset({"scale_00"})).to_bytes())

    def morph(**extra) -> dict:
        ring = FrameRing.create(4, 64, 48)
        params = {"frames": 4, "screen": [64, 48], "background": [0, 0, 0], "work_side": 64,
                  "ring": ring.spec(), "token": 1, **extra}
        try:
            return render_morph(archive, params, ring, lambda *report: None, lambda: False, settings, "cpu")
        finally:
            ring.close()

    to_outdated = morph(node_a=painting.id, node_b=outdated.id)
    from_outdated = morph(node_a=outdated.id, node_b=sibling.id)
    breath = morph(node_a=outdated.id, node_b=outdated.id, breathe=True)
    assert to_outdated == {"frames": 4, "method": "flow"}
    assert from_outdated == {"frames": 4, "method": "latent"}
    assert breath == {"frames": 0, "method": "none"}


def test_worker_renders_breathing_frames(archive, paintings):
    from installation.frames import FrameRing, letterbox, morph_box
    from installation.jobs import JobContext
    from installation.morph import render_breath
    from models import job_handlers

    settings = load_settings(overrides=TINY + ["networks.network=multiscale", "networks.output_side=40"])
    painting = archive.import_photo(paintings[1])
    context = JobContext("test", archive, "cpu", settings, lambda *report: None, lambda: False)
    job_handlers.train({"node_id": painting.id, "network": "multiscale"}, context)
    child = archive.node(job_handlers.generate({"node_id": painting.id, "seed": 2}, context)["node_ids"][0])
    screen = (64, 48)
    ring = FrameRing.create(4, *screen)
    params = {"node_a": child.id, "node_b": child.id, "frames": 4, "screen": list(screen),
              "background": [0, 0, 0], "work_side": 64, "ring": ring.spec(), "token": 9, "breathe": True}
    try:
        done = render_breath(archive, params, ring, lambda *report: None, lambda: False, settings, "cpu")
        frames = {frame.index: frame.pixels[..., 2::-1].copy() for frame in ring.ready()}  # BGRX to RGB
        painting_done = render_breath(archive, {**params, "node_a": painting.id}, ring,
                                      lambda *report: None, lambda: False, settings, "cpu")
    finally:
        ring.close()

    network = MultiscaleNetwork(settings, "cpu")
    network.load(checkpoint_path(archive.folder, "multiscale", painting.id))
    center = Latent.from_bytes((archive.folder / child.provenance["latent"]).read_bytes())
    first = next(network.breathe(center, seed=child.id))
    box = morph_box((child.width, child.height), (child.width, child.height), screen)
    assert done == {"frames": 4, "method": "breath"}
    assert sorted(frames) == [0, 1, 2, 3]
    assert np.array_equal(frames[0], letterbox(network.decode(first), box, (0, 0, 0)))
    assert not np.array_equal(frames[0], frames[3])
    assert painting_done == {"frames": 0, "method": "none"}


def test_train_ctrl_c_saves_stage(archive, paintings):
    node = archive.import_photo(paintings[0])
    checkpoint = checkpoint_path(archive.folder, "multiscale", node.id)
    # The first scale gets enough iterations to be still under way when the signal lands.
    # The bar redraws at most ten times a second, so it may skip any given report.
    command = _train_command(archive.folder, node.id, settings=["multiscale.iterations=1500"])
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ONE_THREAD) as process:
        shown = b""
        while not [int(done) for done in re.findall(rb"scale 1/\d+ iteration (\d+)/", shown) if int(done) >= 11]:
            chunk = os.read(process.stderr.fileno(), 4096)
            assert chunk, f"train ended before its first progress report: {shown[-500:]!r}"
            shown += chunk
        process.send_signal(signal.SIGINT)
        process.stderr.read()
        assert process.wait(timeout=120) == 130
    partial = json.loads(checkpoint.with_suffix(".json").read_text())["partial"]
    assert partial["scale"] == 0
    assert partial["iteration"] >= 11
