"""Kill a process that imports photos in a loop, at random moments, and check the archive."""

import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from PIL import Image

from installation.archive import Archive

KILLS = 50
ROOT = Path(__file__).resolve().parent.parent

# Imports random crops of the test paintings forever, so every import writes new files.
IMPORTER = textwrap.dedent("""
    import io, random, sys
    from PIL import Image
    from installation.archive import Archive
    from installation.photo import Photo

    archive = Archive(sys.argv[1])
    sources = [Image.open(path).convert("RGB") for path in sys.argv[2:]]
    rng = random.Random()
    print("ready", flush=True)
    while True:
        source = rng.choice(sources)
        x, y = rng.randrange(source.width - 96), rng.randrange(source.height - 96)
        crop = source.crop((x, y, x + 96, y + 96))
        buffer = io.BytesIO()
        crop.save(buffer, format="JPEG")
        photo = Photo(image=crop, original=buffer.getvalue(), original_suffix=".jpg",
                      original_size=crop.size)
        archive.add_painting(photo, title="recorte ñ %d" % rng.randrange(10**6))
""")


def run_and_kill(folder, paintings, rng):
    # Two small paintings keep each start quick, so most of the time goes to writing.
    paintings = [p for p in paintings if "matisse" in p.name or "picabia" in p.name]
    process = subprocess.Popen([sys.executable, "-c", IMPORTER, str(folder), *map(str, paintings)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.0, 0.25))
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()


def test_kill_during_imports_never_breaks_archive(tmp_path, paintings):
    folder = tmp_path / "archive"
    rng = random.Random(2024)
    for kill in range(KILLS):
        run_and_kill(folder, paintings, rng)
        with Archive(folder) as archive:
            report = archive.verify()
            assert report.ok, f"after kill {kill + 1}: {report.errors}"
            nodes = archive.nodes()
            for node in nodes:
                with Image.open(archive.image_path(node)) as image:
                    image.load()
    assert len(nodes) > KILLS, "the importer was killed before it stored anything"


def test_repair_after_kills_leaves_no_orphans(tmp_path, paintings):
    folder = tmp_path / "archive"
    rng = random.Random(7)
    for _ in range(5):
        run_and_kill(folder, paintings, rng)
    with Archive(folder) as archive:
        archive.repair(archive.verify())
        report = archive.verify()
        assert (report.orphans, report.temporaries) == ([], [])
