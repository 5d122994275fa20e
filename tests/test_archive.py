"""The genealogy archive on real SQLite files and a real image store."""

import errno
import json
import os
import sqlite3

import pytest
from PIL import Image

from installation.archive import Archive, DATABASE_NAME
from installation.config import ArchiveSettings
from installation.texts import TwowayError


def machine_child(archive, parent_id, colour=(10, 20, 30), seed=1):
    return archive.add_machine_image(Image.new("RGB", (32, 24), colour), [parent_id],
                                     network="patches", version="1", seed=seed,
                                     latent=b"latent-bytes")


def test_database_uses_wal(archive):
    mode = archive._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_foreign_keys_are_on(archive):
    assert archive._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_schema_version_is_current(archive):
    from installation.archive import MIGRATIONS
    assert archive.schema_version == len(MIGRATIONS)


def test_reopen_keeps_nodes(tmp_path, paintings):
    with Archive(tmp_path / "a") as first:
        first.import_photo(paintings[0])
    with Archive(tmp_path / "a") as second:
        assert second.count() == 1


def test_newer_schema_is_rejected(tmp_path):
    Archive(tmp_path / "a").close()
    with sqlite3.connect(tmp_path / "a" / DATABASE_NAME) as db:
        db.execute("PRAGMA user_version = 999")
    with pytest.raises(TwowayError) as caught:
        Archive(tmp_path / "a")
    assert caught.value.key == "errors.archive_too_new"


def test_import_stores_original_bytes(archive, paintings):
    node = archive.import_photo(paintings[1])
    assert archive.file_path(node, "original").read_bytes() == paintings[1].read_bytes()


def test_import_records_image_size(archive, paintings):
    node = archive.import_photo(paintings[1])
    with Image.open(archive.image_path(node)) as image:
        assert image.size == (node.width, node.height)


def test_image_store_is_content_addressed(archive, paintings):
    first = archive.import_photo(paintings[0])
    second = archive.import_photo(paintings[0])
    assert first.image == second.image


def test_first_painting_is_generation_zero(archive, paintings):
    assert archive.import_photo(paintings[0]).generation == 0


def test_child_generation_follows_deepest_parent(archive, paintings):
    root = archive.import_photo(paintings[0])
    child = machine_child(archive, root.id)
    other = archive.import_photo(paintings[1])
    painted = archive.import_photo(paintings[2], parents=[other.id, child.id])
    assert painted.generation == 2


def test_parents_keep_their_order(archive, paintings):
    a = archive.import_photo(paintings[0])
    b = archive.import_photo(paintings[1])
    child = archive.import_photo(paintings[2], parents=[b.id, a.id])
    assert archive.node(child.id).parents == (b.id, a.id)


def test_missing_parent_is_rejected(archive, paintings):
    with pytest.raises(TwowayError) as caught:
        archive.import_photo(paintings[0], parents=[42])
    assert caught.value.key == "errors.node_not_found"


def test_machine_image_needs_parent(archive):
    with pytest.raises(TwowayError) as caught:
        archive.add_machine_image(Image.new("RGB", (8, 8)), [], "patches", "1", 0)
    assert caught.value.key == "errors.machine_needs_parent"


def test_machine_provenance_names_latent_file(archive, paintings):
    root = archive.import_photo(paintings[0])
    child = machine_child(archive, root.id, seed=99)
    assert (archive.folder / child.provenance["latent"]).read_bytes() == b"latent-bytes"


def test_machine_provenance_keeps_seed(archive, paintings):
    root = archive.import_photo(paintings[0])
    assert machine_child(archive, root.id, seed=99).provenance["seed"] == 99


def test_children_are_listed(archive, paintings):
    root = archive.import_photo(paintings[0])
    child = machine_child(archive, root.id)
    assert [node.id for node in archive.children(root.id)] == [child.id]


def test_hidden_node_is_kept(archive, paintings):
    node = archive.import_photo(paintings[0])
    archive.set_flag(node.id, "hidden", True)
    assert archive.node(node.id).hidden


def test_hidden_node_left_out_of_visible_list(archive, paintings):
    node = archive.import_photo(paintings[0])
    archive.set_flag(node.id, "hidden", True)
    assert archive.nodes(include_hidden=False) == []


def test_chosen_flag_can_be_removed(archive, paintings):
    node = archive.import_photo(paintings[0])
    archive.set_flag(node.id, "chosen", True)
    assert not archive.set_flag(node.id, "chosen", False).chosen


def test_spanish_title_round_trips(archive, paintings):
    node = archive.import_photo(paintings[0], title="Señora con sombrero, ¿azul?")
    assert archive.node(node.id).title == "Señora con sombrero, ¿azul?"


def test_spanish_file_name_is_imported(archive, paintings, tmp_path):
    path = tmp_path / "niña_en_el_jardín.jpg"
    path.write_bytes(paintings[3].read_bytes())
    assert archive.import_photo(path).title == "niña_en_el_jardín"


def test_rejected_photo_leaves_archive_unchanged(archive, tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(TwowayError):
        archive.import_photo(path)
    assert (archive.count(), archive.verify().orphans) == (0, [])


def test_thumbnail_is_cached(archive, paintings):
    node = archive.import_photo(paintings[0])
    first = archive.thumbnail(node, 64)
    stamp = first.stat().st_mtime_ns
    assert archive.thumbnail(node, 64).stat().st_mtime_ns == stamp


def test_thumbnail_fits_side(archive, paintings):
    node = archive.import_photo(paintings[0])
    with Image.open(archive.thumbnail(node, 64)) as image:
        assert max(image.size) == 64


def test_verify_passes_on_healthy_archive(archive, paintings):
    archive.import_photo(paintings[0])
    assert archive.verify().ok


def test_verify_finds_missing_file(archive, paintings):
    node = archive.import_photo(paintings[0])
    archive.image_path(node).unlink()
    assert any("missing" in error for error in archive.verify().errors)


def test_verify_finds_damaged_image(archive, paintings):
    node = archive.import_photo(paintings[0])
    path = archive.image_path(node)
    path.write_bytes(path.read_bytes()[:200])
    assert any("does not open" in error for error in archive.verify().errors)


def test_verify_reports_orphan_without_failing(archive):
    archive.store_bytes(b"left behind", "images", ".png")
    report = archive.verify()
    assert (report.ok, len(report.orphans)) == (True, 1)


def test_repair_moves_orphans_aside(archive):
    relative = archive.store_bytes(b"left behind", "images", ".png")
    archive.repair(archive.verify())
    assert (archive.folder / "orphans" / relative).read_bytes() == b"left behind"


def test_repair_deletes_temporary_files(archive):
    leftover = archive.folder / "images" / ".tmp-unfinished.png"
    leftover.write_bytes(b"half")
    archive.repair(archive.verify())
    assert not leftover.exists()


def test_full_disk_leaves_archive_unchanged(archive, paintings, monkeypatch):
    archive.import_photo(paintings[0])
    before = sorted(p for p in archive.folder.rglob("*") if p.is_file() and "sqlite" not in p.name)

    def no_space(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("installation.archive.os.fsync", no_space)
    with pytest.raises(TwowayError) as caught:
        archive.import_photo(paintings[1])
    monkeypatch.undo()

    after = sorted(p for p in archive.folder.rglob("*") if p.is_file() and "sqlite" not in p.name)
    assert caught.value.key == "errors.disk_full"
    assert after == before
    assert archive.count() == 1


def test_free_space_floor_rejects_write(tmp_path, paintings):
    settings = ArchiveSettings(min_free_mb=10**9)
    with Archive(tmp_path / "a", settings) as archive:
        with pytest.raises(TwowayError) as caught:
            archive.import_photo(paintings[0])
        assert caught.value.key == "errors.disk_full"


def test_node_json_names_parents(archive, paintings):
    root = archive.import_photo(paintings[0])
    child = machine_child(archive, root.id)
    assert json.loads(json.dumps(child.as_json()))["parents"] == [root.id]


def test_missing_database_with_images_is_rejected(tmp_path, paintings):
    with Archive(tmp_path / "a") as archive:
        archive.import_photo(paintings[0])
    (tmp_path / "a" / DATABASE_NAME).unlink()
    with pytest.raises(TwowayError) as caught:
        Archive(tmp_path / "a")
    assert caught.value.key == "errors.archive_database_missing"


def test_empty_database_file_is_left_alone(tmp_path, paintings):
    with Archive(tmp_path / "a") as archive:
        archive.import_photo(paintings[0])
    database = tmp_path / "a" / DATABASE_NAME
    database.write_bytes(b"")
    with pytest.raises(TwowayError):
        Archive(tmp_path / "a")
    assert database.stat().st_size == 0
