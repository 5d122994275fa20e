"""The tree scene with a genealogy of 200 nodes: it pans to the highlighted node and stays legible."""

from PIL import Image

from installation.app import App
from installation.cli.screenshot_command import render_scene
from installation.config import load_settings

SIZE = (1920, 1080)


def test_large_tree_pans_to_highlighted_node(archive):
    from installation.demo import demo_photo

    root = archive.add_painting(demo_photo(64, 48), title="root")
    tile = Image.new("RGB", (16, 12), (90, 120, 160))
    last = None
    for branch in range(10):
        child = archive.add_machine_image(tile, [root.id], network="patches", version="1", seed=branch)
        for leaf in range(19):
            last = archive.add_machine_image(tile, [child.id], network="patches", version="1", seed=leaf)
    assert archive.count() == 201

    settings = load_settings(overrides=["display.fullscreen=false"])
    app = App(settings, archive.folder, size=SIZE, use_worker=False)
    app.start()
    try:
        render_scene(app, "tree", last.id, timeout=60)
        for _ in range(120):  # let the view finish easing toward the node
            app.step()
        tree = app.scenes["tree"]
        x, y = tree.positions[last.id]
        on_screen = (x - tree.camera[0] + SIZE[0] / 2, y - tree.camera[1] + SIZE[1] / 2)
    finally:
        app.stop()
    assert tree.extent[0] > SIZE[0]
    assert 0 <= on_screen[0] <= SIZE[0]
    assert 0 <= on_screen[1] <= SIZE[1]
    assert tree.font.get_height() >= 30
    assert tree.side >= 100
