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


def test_networks_described_in_spanish(config, capsys):
    assert main(["networks", "--config", str(config), "--set", "general.language=es"]) == 0
    output = capsys.readouterr().out
    assert "sin entrenamiento" in output
    assert "pirámide de pequeños generadores" in output


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


def test_generate_vary_from_needs_scales(config, paintings, tmp_path, capsys):
    with Archive(tmp_path / "archive") as archive:
        parent = archive.import_photo(paintings[1])
    assert main(["generate", str(parent.id), "--vary-from", "0", "--config", str(config)]) == 1
    assert "'patches' has no scales" in capsys.readouterr().err
    with Archive(tmp_path / "archive") as archive:
        assert archive.children(parent.id) == []


def test_generate_unknown_node_fails(config, capsys):
    assert main(["generate", "4242", "--config", str(config)]) == 1
    assert "4242" in capsys.readouterr().err


def test_generate_bad_count_fails(config, paintings, tmp_path, capsys):
    with Archive(tmp_path / "archive") as archive:
        parent = archive.import_photo(paintings[1])
    assert main(["generate", str(parent.id), "--count", "17", "--config", str(config)]) == 1
    assert "networks.max_children" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained_config(tmp_path_factory):
    """A config with the tiny multiscale settings and a painting with a trained checkpoint."""
    from tests.conftest import painting_paths
    from tests.models.test_multiscale import TINY

    folder = tmp_path_factory.mktemp("vary")
    sections = {}
    for entry in TINY:
        key, value = entry.split("=")
        section, name = key.split(".")
        sections.setdefault(section, []).append(f"{name} = {value}")
    path = folder / "config.toml"
    path.write_text(f'[general]\nlanguage = "en"\n[archive]\npath = "{folder / "archive"}"\n'
                    + "".join(f"[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items()))
    with Archive(folder / "archive") as archive:
        parent = archive.import_photo(painting_paths()[0])
    assert main(["train", str(parent.id), "--config", str(path)]) == 0
    return path, folder / "archive", parent.id


@pytest.mark.parametrize(("flags", "expected"), [([], 1), (["--vary-from", "0"], 0)])
def test_generate_vary_from(trained_config, flags, expected):
    config, folder, parent = trained_config
    code = main(["generate", str(parent), "--network", "multiscale", "--size", "40", *flags,
                 "--config", str(config)])
    assert code == 0
    with Archive(folder) as archive:
        child = archive.children(parent)[-1]
    assert child.provenance["vary_from_scale"] == expected


def test_generate_bad_vary_from_fails(trained_config, capsys):
    config, _, parent = trained_config
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(parent), "--network", "multiscale", "--vary-from", "-1", "--config", str(config)])
    assert exit_info.value.code == 2
    assert "--vary-from" in capsys.readouterr().err
