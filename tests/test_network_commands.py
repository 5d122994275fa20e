"""`twoway networks` and `twoway generate`, run through the real command line entry point."""

import pytest

from installation.archive import Archive
from installation.cli import main


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[general]\nlanguage = "en"\n'
        f'[archive]\npath = "{tmp_path / "archive"}"\n'
        '[networks]\npatch_coarsest_side = 16\npatch_iterations = 1\npatch_coarsest_iterations = 2\n')
    return path


def test_networks_lists_patches(config, capsys):
    assert main(["networks", "--config", str(config)]) == 0
    output = capsys.readouterr().out
    assert "* patches" in output
    assert "no training" in output


def test_generate_stores_children(config, paintings, tmp_path, capsys):
    with Archive(tmp_path / "archive") as archive:
        parent = archive.import_photo(paintings[1])

    code = main(["generate", str(parent.id), "--count", "2", "--seed", "11", "--size", "40",
                 "--config", str(config)])
    assert code == 0
    assert f"Image {parent.id} has new children" in capsys.readouterr().out
    with Archive(tmp_path / "archive") as archive:
        children = archive.children(parent.id)
    assert len(children) == 2
    assert max(children[0].width, children[0].height) == 40
    assert sorted(child.provenance["seed"] for child in children) == [11, 12]


def test_generate_unknown_node_fails(config, capsys):
    assert main(["generate", "4242", "--config", str(config)]) == 1
    assert "4242" in capsys.readouterr().err


def test_generate_bad_count_fails(config, paintings, tmp_path, capsys):
    with Archive(tmp_path / "archive") as archive:
        parent = archive.import_photo(paintings[1])
    assert main(["generate", str(parent.id), "--count", "17", "--config", str(config)]) == 1
    assert "networks.max_children" in capsys.readouterr().err
