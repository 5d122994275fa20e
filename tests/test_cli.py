"""The twoway command line, run as a real subprocess on a temporary archive."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def twoway(tmp_path, *args, language="en"):
    command = [sys.executable, "-m", "installation", *args,
               "--set", f"archive.path={tmp_path / 'archive'}", "--set", f"general.language={language}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def starry(paintings):
    return next(p for p in paintings if "vangogh" in p.name)


def test_import_then_tree_then_verify(tmp_path, starry):
    assert twoway(tmp_path, "import", str(starry), "--title", "Noche estrellada").returncode == 0
    tree = twoway(tmp_path, "tree")
    assert "1  painting  generation 0  Noche estrellada" in tree.stdout
    assert twoway(tmp_path, "verify").returncode == 0


def test_set_before_and_after_command(tmp_path, starry):
    command = [sys.executable, "-m", "installation", "--set", "general.language=en", "import", str(starry),
               "--set", f"archive.path={tmp_path / 'archive'}"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "as image 1" in result.stdout
    assert "1  painting  generation 0" in twoway(tmp_path, "tree").stdout


def test_child_is_indented_under_parent(tmp_path, paintings):
    twoway(tmp_path, "import", str(paintings[0]))
    twoway(tmp_path, "import", str(paintings[1]), "--parent", "1", "--title", "hija")
    assert "\n    2  painting  generation 1  hija" in twoway(tmp_path, "tree").stdout


def test_bad_photo_exits_nonzero(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    assert twoway(tmp_path, "import", str(bad)).returncode == 1


def test_bad_photo_message_names_file(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    assert "bad.jpg is not an image" in twoway(tmp_path, "import", str(bad)).stderr


def test_bad_photo_leaves_archive_empty(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    twoway(tmp_path, "import", str(bad))
    assert "archive is empty" in twoway(tmp_path, "tree").stdout


def test_good_photos_import_beside_bad_one(tmp_path, paintings):
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    result = twoway(tmp_path, "import", str(paintings[0]), str(bad), str(paintings[1]))
    assert "2 imported, 1 rejected." in result.stdout


def test_messages_follow_language(tmp_path, starry):
    result = twoway(tmp_path, "import", str(starry), language="es")
    assert "importada como imagen 1" in result.stdout


def test_show_prints_provenance(tmp_path, starry):
    twoway(tmp_path, "import", str(starry))
    assert "source_name: vangogh_starry_night_1889.jpg" in twoway(tmp_path, "show", "1").stdout


def test_show_unknown_node_fails(tmp_path):
    result = twoway(tmp_path, "show", "5")
    assert result.returncode == 1
    assert "number 5" in result.stderr


def test_hide_and_choose_mark_nodes(tmp_path, starry):
    twoway(tmp_path, "import", str(starry))
    twoway(tmp_path, "choose", "1")
    twoway(tmp_path, "hide", "1")
    assert "[chosen, hidden]" in twoway(tmp_path, "tree", "--all").stdout


def test_hidden_node_left_out_of_tree(tmp_path, starry):
    twoway(tmp_path, "import", str(starry))
    twoway(tmp_path, "hide", "1")
    assert "archive is empty" in twoway(tmp_path, "tree").stdout


def test_export_writes_json_images_and_tree(tmp_path, paintings):
    twoway(tmp_path, "import", str(paintings[0]))
    twoway(tmp_path, "import", str(paintings[1]), "--parent", "1")
    assert twoway(tmp_path, "export", str(tmp_path / "out")).returncode == 0
    document = json.loads((tmp_path / "out" / "genealogy.json").read_text(encoding="utf-8"))
    assert [node["parents"] for node in document["nodes"]] == [[], [1]]
    assert all((tmp_path / "out" / node["export_image"]).is_file() for node in document["nodes"])
    assert (tmp_path / "out" / "family-tree.png").is_file()


def test_export_refuses_full_folder(tmp_path, starry):
    twoway(tmp_path, "import", str(starry))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert twoway(tmp_path, "export", str(tmp_path / "out")).returncode == 1


def test_settings_typo_is_rejected_before_anything(tmp_path):
    result = twoway(tmp_path, "tree", "--set", "general.langauge=en")
    assert "did you mean 'language'" in result.stderr
    assert not (tmp_path / "archive").exists()


def test_config_option_reads_other_file(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[general]\nlanguage = "es"\n', encoding="utf-8")
    command = [sys.executable, "-m", "installation", "tree", "--config", str(other)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "El archivo de la genealogía está vacío" in result.stdout
    assert (tmp_path / "archive").is_dir()


def test_help_names_units(tmp_path):
    result = twoway(tmp_path, "export", "--help")
    assert "in pixels" in result.stdout


def test_verify_fails_on_missing_file(tmp_path, starry):
    twoway(tmp_path, "import", str(starry))
    for image in (tmp_path / "archive" / "images").rglob("*.png"):
        image.unlink()
    result = twoway(tmp_path, "verify")
    assert result.returncode == 1
    assert "file missing" in result.stdout


@pytest.mark.parametrize("option, value", [("--size", "99999999"), ("--seed", "-1"), ("--count", "0")])
def test_generate_rejects_out_of_range(tmp_path, option, value):
    result = twoway(tmp_path, "generate", "1", option, value)
    assert result.returncode == 2
    assert "out of range" in result.stderr


def test_closed_pipe_gives_no_traceback(tmp_path, starry):
    twoway(tmp_path, "import", str(starry))
    command = [sys.executable, "-m", "installation", "show", "1",
               "--set", f"archive.path={tmp_path / 'archive'}"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    process.wait(timeout=60)
    assert "BrokenPipeError" not in stderr


def test_screenshot_bad_size_is_a_usage_error(tmp_path):
    result = twoway(tmp_path, "screenshot", "walk", str(tmp_path / "x.png"), "--size", "0x0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
