"""The genealogy archive: SQLite (WAL) for the nodes plus a content-addressed file store.

Layout of the archive folder:

    genealogy.sqlite           nodes, parents, files (schema version in PRAGMA user_version)
    images/ab/<sha256>.png     every node's image, 8-bit RGB PNG
    originals/ab/<sha256>.jpg  a painting's photo file, byte for byte as it came
    latents/ab/<sha256>.<ext>  a machine image's latent, written by its network
    thumbs/<sha256>-<px>.png   cached thumbnails, safe to delete
    orphans/                   files with no row, moved here by `verify --repair`

Crash safety: a file is written to a temporary name, fsynced, renamed and its
folder fsynced before the row that names it is committed. A kill between the two
leaves an orphan file, which `verify` reports and `verify --repair` moves aside.
So a row never names a missing file. Nodes are never deleted, only hidden.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import logging
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from PIL import Image

from installation.config import ArchiveSettings
from installation.photo import Photo, read_photo
from installation.texts import TwowayError

log = logging.getLogger(__name__)

DATABASE_NAME = "genealogy.sqlite"
KINDS = ("painting", "machine")
STORE_FOLDERS = ("images", "originals", "latents", "raw")
TEMP_PREFIX = ".tmp-"
DISK_FULL_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


@dataclass(frozen=True)
class Node:
    """One image of the genealogy: a photographed painting or a network's output."""

    id: int
    kind: str  # "painting" or "machine"
    generation: int  # 0 for a first painting, else 1 + the largest parent generation
    title: str
    author: str
    created_at: str  # ISO 8601, UTC
    hidden: bool
    chosen: bool
    demo: bool
    image: str  # path of the PNG, relative to the archive folder
    width: int  # pixels
    height: int  # pixels
    parents: tuple[int, ...] = ()
    provenance: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "generation": self.generation,
            "title": self.title, "author": self.author, "created_at": self.created_at,
            "hidden": self.hidden, "chosen": self.chosen, "demo": self.demo,
            "image": self.image, "width": self.width, "height": self.height,
            "parents": list(self.parents), "provenance": self.provenance,
        }


@dataclass(frozen=True)
class NodeState:
    """A snapshot of a painting in progress (live painting), numbered from 1 per node."""

    id: int
    node: int
    number: int
    created_at: str  # ISO 8601, UTC
    image: str  # path of the rectified PNG, relative to the archive folder
    raw: str  # path of the camera frame (JPEG), relative to the archive folder; "" if none
    answer: int | None  # the machine child that answered this state, once there is one
    provenance: dict = field(default_factory=dict)


@dataclass
class VerifyReport:
    """Findings of `Archive.verify`: `errors` make the archive unhealthy; orphans and temporaries do not."""

    nodes: int = 0
    errors: list[str] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)
    temporaries: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# Each migration takes the database from version N to N + 1, in one transaction.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE nodes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('painting', 'machine')),
        generation INTEGER NOT NULL CHECK (generation >= 0),
        title TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
        chosen INTEGER NOT NULL DEFAULT 0 CHECK (chosen IN (0, 1)),
        demo INTEGER NOT NULL DEFAULT 0 CHECK (demo IN (0, 1)),
        image TEXT NOT NULL,
        width INTEGER NOT NULL CHECK (width > 0),
        height INTEGER NOT NULL CHECK (height > 0),
        provenance TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE parents (
        child INTEGER NOT NULL REFERENCES nodes(id),
        parent INTEGER NOT NULL REFERENCES nodes(id),
        position INTEGER NOT NULL,
        PRIMARY KEY (child, parent)
    );
    CREATE INDEX parents_by_parent ON parents(parent);
    CREATE TABLE files (
        node INTEGER NOT NULL REFERENCES nodes(id),
        role TEXT NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (node, role)
    );
    CREATE INDEX files_by_path ON files(path);
    """,
    # Live painting: snapshots of a painting in progress, each answered by a machine child.
    """
    CREATE TABLE states (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        node INTEGER NOT NULL REFERENCES nodes(id),
        number INTEGER NOT NULL CHECK (number >= 1),
        created_at TEXT NOT NULL,
        image TEXT NOT NULL,
        raw TEXT NOT NULL DEFAULT '',
        answer INTEGER REFERENCES nodes(id),
        provenance TEXT NOT NULL DEFAULT '{}',
        UNIQUE (node, number)
    );
    """,
]


class Archive:
    """The genealogy on disk. Open one per process (or thread) and close it when done."""

    def __init__(self, folder: Path | str, settings: ArchiveSettings | None = None):
        self.folder = Path(folder)
        self.settings = settings or ArchiveSettings()
        self._check_database_present()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for name in STORE_FOLDERS + ("thumbs",):
                (self.folder / name).mkdir(exist_ok=True)
        except OSError as error:
            raise TwowayError("errors.archive_unwritable", path=self.folder, reason=error.strerror)
        self._db = self._connect()
        self._migrate()

    def _check_database_present(self) -> None:
        """Reject a folder whose images survive but whose database is missing or empty.

        Opening it would start a new, empty genealogy, and `verify --repair` would
        then move every image aside as an orphan.
        """
        database = self.folder / DATABASE_NAME
        if database.is_file() and database.stat().st_size > 0:
            return
        images = self.folder / "images"
        stored = sum(1 for path in images.rglob("*.png")) if images.is_dir() else 0
        if stored:
            raise TwowayError("errors.archive_database_missing", path=database, images=stored)

    def _connect(self) -> sqlite3.Connection:
        path = self.folder / DATABASE_NAME
        try:
            db = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as error:
            if not os.access(self.folder, os.W_OK):
                raise TwowayError("errors.archive_read_only", path=self.folder) from error
            raise TwowayError("errors.archive_damaged", path=path, reason=str(error)) from error
        return db

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise TwowayError("errors.archive_too_new", path=self.folder, version=version)
        for number in range(version, len(MIGRATIONS)):
            log.info("migrating archive %s from schema %d to %d", self.folder, number, number + 1)
            # executescript commits first, so the DDL and the version run in one script.
            self._db.executescript(
                f"BEGIN IMMEDIATE; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;")

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing files -------------------------------------------------------------

    def store_bytes(self, data: bytes, folder: str, suffix: str) -> str:
        """Store bytes under their SHA-256 and return the path relative to the archive."""
        digest = hashlib.sha256(data).hexdigest()
        relative = f"{folder}/{digest[:2]}/{digest}{suffix}"
        target = self.folder / relative
        if target.exists() and target.stat().st_size == len(data):
            return relative
        self._check_free_space(len(data))
        write_atomic(target, data)
        return relative

    def _check_free_space(self, size: int) -> None:
        free = shutil.disk_usage(self.folder).free
        if free - size < self.settings.min_free_mb * 1024 * 1024:
            raise TwowayError("errors.disk_full", path=self.folder, free_mb=free // (1024 * 1024))

    def store_image(self, image: Image.Image) -> str:
        """Store an RGB image as PNG and return its relative path."""
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", compress_level=6)
        return self.store_bytes(buffer.getvalue(), "images", ".png")

    # --- adding nodes --------------------------------------------------------------

    def import_photo(self, path: Path | str, parents: Iterable[int] = (), title: str = "",
                     author: str = "", capture: dict | None = None) -> Node:
        """Import a photo of a painting; the archive is unchanged when it is rejected."""
        photo = read_photo(path, self.settings.max_import_pixels, self.settings.max_stored_side)
        if not title:
            title = Path(path).stem
        return self.add_painting(photo, parents, title, author, source_name=Path(path).name,
                                 capture=capture)

    def add_painting(self, photo: Photo, parents: Iterable[int] = (), title: str = "",
                     author: str = "", source_name: str = "", capture: dict | None = None,
                     demo: bool = False) -> Node:
        """Add a painting node from a decoded photo, keeping the original file's bytes."""
        parents = self._check_parents(parents)
        original = self.store_bytes(photo.original, "originals", photo.original_suffix)
        image = self.store_image(photo.image)
        provenance = {"source_name": source_name, "original_size": list(photo.original_size)}
        if capture:
            provenance["capture"] = capture
        return self._insert(
            kind="painting", image_path=image, size=photo.image.size, parents=parents,
            title=title, author=author, demo=demo, provenance=provenance,
            files={"image": image, "original": original})

    def add_machine_image(self, image: Image.Image, parents: Iterable[int], network: str,
                          version: str, seed: int, checkpoint: str = "",
                          latent: bytes | None = None, latent_suffix: str = ".npz",
                          title: str = "", extra: dict | None = None) -> Node:
        """Add a network's output as a child of `parents`, with what it needs to be rendered again."""
        parents = self._check_parents(parents)
        if not parents:
            raise TwowayError("errors.machine_needs_parent")
        files = {"image": self.store_image(image)}
        provenance = {"network": network, "version": version, "seed": seed,
                      "checkpoint": checkpoint, **(extra or {})}
        if latent is not None:
            files["latent"] = self.store_bytes(latent, "latents", latent_suffix)
            provenance["latent"] = files["latent"]
        return self._insert(
            kind="machine", image_path=files["image"], size=image.size, parents=parents,
            title=title, author=network, demo=False, provenance=provenance, files=files)

    def _check_parents(self, parents: Iterable[int]) -> tuple[int, ...]:
        unique = tuple(dict.fromkeys(int(p) for p in parents))
        for parent in unique:
            self.node(parent)  # raises node_not_found
        return unique

    def _insert(self, kind: str, image_path: str, size: tuple[int, int], parents: tuple[int, ...],
                title: str, author: str, demo: bool, provenance: dict, files: dict) -> Node:
        created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self._transaction() as db:
            generation = 0
            if parents:
                marks = ",".join("?" * len(parents))
                generation = 1 + db.execute(
                    f"SELECT MAX(generation) FROM nodes WHERE id IN ({marks})", parents).fetchone()[0]
            cursor = db.execute(
                "INSERT INTO nodes (kind, generation, title, author, created_at, demo, image,"
                " width, height, provenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, generation, title, author, created, int(demo), image_path,
                 size[0], size[1], json.dumps(provenance, ensure_ascii=False)))
            node_id = cursor.lastrowid
            db.executemany("INSERT INTO parents (child, parent, position) VALUES (?, ?, ?)",
                           [(node_id, parent, i) for i, parent in enumerate(parents)])
            db.executemany("INSERT INTO files (node, role, path) VALUES (?, ?, ?)",
                           [(node_id, role, path) for role, path in files.items()])
        log.info("added %s node %d (generation %d, parents %s)", kind, node_id, generation, list(parents))
        return self.node(node_id)

    def _transaction(self):
        return _Transaction(self._db)

    # --- reading -------------------------------------------------------------------

    def node(self, node_id: int) -> Node:
        row = self._db.execute("SELECT * FROM nodes WHERE id = ?", (int(node_id),)).fetchone()
        if row is None:
            raise TwowayError("errors.node_not_found", node_id=node_id)
        return self._node_from_row(row)

    def nodes(self, include_hidden: bool = True) -> list[Node]:
        """Return every node in id order (so parents come before their children)."""
        query = "SELECT * FROM nodes" + ("" if include_hidden else " WHERE hidden = 0") + " ORDER BY id"
        rows = self._db.execute(query).fetchall()
        parents = self._all_parents()
        return [self._node_from_row(row, parents.get(row["id"], ())) for row in rows]

    def children(self, node_id: int, include_hidden: bool = True) -> list[Node]:
        rows = self._db.execute(
            "SELECT n.* FROM nodes n JOIN parents p ON p.child = n.id WHERE p.parent = ?"
            + ("" if include_hidden else " AND n.hidden = 0") + " ORDER BY n.id", (int(node_id),))
        return [self._node_from_row(row) for row in rows.fetchall()]

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0]

    def _all_parents(self) -> dict[int, tuple[int, ...]]:
        result: dict[int, list[int]] = {}
        for row in self._db.execute("SELECT child, parent FROM parents ORDER BY child, position"):
            result.setdefault(row[0], []).append(row[1])
        return {child: tuple(ids) for child, ids in result.items()}

    def _node_from_row(self, row: sqlite3.Row, parents: tuple[int, ...] | None = None) -> Node:
        if parents is None:
            parents = tuple(r[0] for r in self._db.execute(
                "SELECT parent FROM parents WHERE child = ? ORDER BY position", (row["id"],)))
        return Node(
            id=row["id"], kind=row["kind"], generation=row["generation"], title=row["title"],
            author=row["author"], created_at=row["created_at"], hidden=bool(row["hidden"]),
            chosen=bool(row["chosen"]), demo=bool(row["demo"]), image=row["image"],
            width=row["width"], height=row["height"], parents=parents,
            provenance=json.loads(row["provenance"]))

    def image_path(self, node: Node) -> Path:
        return self.folder / node.image

    def load_image(self, node: Node) -> Image.Image:
        """Open a node's image as RGB; raise `TwowayError` if its file is damaged."""
        return self._open_rgb(self.image_path(node), node.id)

    def load_state_image(self, state: "NodeState") -> Image.Image:
        """Open the picture of a live painting state as RGB; raise `TwowayError` if its file is damaged."""
        return self._open_rgb(self.folder / state.image, state.node)

    @staticmethod
    def _open_rgb(path: Path, node_id: int) -> Image.Image:
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (OSError, SyntaxError) as error:
            raise TwowayError("errors.image_damaged", node_id=node_id, path=path, reason=str(error))

    def file_path(self, node: Node, role: str) -> Path | None:
        """Return the absolute path of one of a node's files ("image", "original", "latent", ...)."""
        row = self._db.execute("SELECT path FROM files WHERE node = ? AND role = ?",
                               (node.id, role)).fetchone()
        return self.folder / row[0] if row else None

    def thumbnail(self, node: Node, side: int | None = None) -> Path:
        """Return a cached thumbnail of at most `side` pixels, made on first use."""
        side = side or self.settings.thumbnail_side
        digest = Path(node.image).stem
        path = self.folder / "thumbs" / f"{digest}-{side}.png"
        if not path.exists():
            image = self.load_image(node)
            image.thumbnail((side, side), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            write_atomic(path, buffer.getvalue())
        return path

    # --- curation ------------------------------------------------------------------

    def set_flag(self, node_id: int, flag: str, value: bool) -> Node:
        """Set a node's `hidden` or `chosen` flag."""
        if flag not in ("hidden", "chosen"):
            raise ValueError(f"unknown flag {flag!r}")
        self.node(node_id)
        with self._transaction() as db:
            db.execute(f"UPDATE nodes SET {flag} = ? WHERE id = ?", (int(value), int(node_id)))
        log.info("node %d: %s = %s", node_id, flag, value)
        return self.node(node_id)

    def set_title(self, node_id: int, title: str) -> Node:
        self.node(node_id)
        with self._transaction() as db:
            db.execute("UPDATE nodes SET title = ? WHERE id = ?", (title, int(node_id)))
        return self.node(node_id)

    # --- live painting states ------------------------------------------------------

    def add_state(self, node_id: int, image: Image.Image, raw: bytes | None = None,
                  provenance: dict | None = None) -> NodeState:
        """Store a snapshot of a painting in progress as the next state of `node_id`.

        Its files are listed under the node (roles "state-N" and "state-N-raw"), so
        `verify` checks them like any other.
        """
        self.node(node_id)
        image_path = self.store_image(image)
        raw_path = self.store_bytes(raw, "raw", ".jpg") if raw else ""
        created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        with self._transaction() as db:
            number = 1 + db.execute("SELECT COALESCE(MAX(number), 0) FROM states WHERE node = ?",
                                    (int(node_id),)).fetchone()[0]
            cursor = db.execute(
                "INSERT INTO states (node, number, created_at, image, raw, provenance) VALUES (?, ?, ?, ?, ?, ?)",
                (int(node_id), number, created, image_path, raw_path,
                 json.dumps(provenance or {}, ensure_ascii=False)))
            db.execute("INSERT INTO files (node, role, path) VALUES (?, ?, ?)",
                       (int(node_id), f"state-{number}", image_path))
            if raw_path:
                db.execute("INSERT INTO files (node, role, path) VALUES (?, ?, ?)",
                           (int(node_id), f"state-{number}-raw", raw_path))
        log.info("node %d: stored live painting state %d", node_id, number)
        return self.state(cursor.lastrowid)

    def state(self, state_id: int) -> NodeState:
        row = self._db.execute("SELECT * FROM states WHERE id = ?", (int(state_id),)).fetchone()
        if row is None:
            raise TwowayError("capture.state_not_found", state_id=state_id)
        return _state_from_row(row)

    def states(self, node_id: int) -> list[NodeState]:
        """Return a node's live painting states, oldest first."""
        rows = self._db.execute("SELECT * FROM states WHERE node = ? ORDER BY number", (int(node_id),))
        return [_state_from_row(row) for row in rows.fetchall()]

    def set_state_answer(self, state_id: int, answer_id: int) -> NodeState:
        """Record the machine child that answered a live painting state."""
        self.node(answer_id)
        with self._transaction() as db:
            db.execute("UPDATE states SET answer = ? WHERE id = ?", (int(answer_id), int(state_id)))
        return self.state(state_id)

    # --- health --------------------------------------------------------------------

    def verify(self, check_images: bool = True) -> VerifyReport:
        """Check the database and that every file a row names exists (and opens)."""
        report = VerifyReport(nodes=self.count())
        integrity = self._db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            report.errors.append(f"database integrity check failed: {integrity}")
        for row in self._db.execute("PRAGMA foreign_key_check").fetchall():
            report.errors.append(f"broken reference in table {row[0]}, row {row[1]}")

        named = set()
        for node_id, role, relative in self._db.execute("SELECT node, role, path FROM files"):
            path = self.folder / relative
            if not path.is_file():
                report.errors.append(f"node {node_id}: {role} file missing: {relative}")
            elif check_images and role == "image" and relative not in named:
                # Content-addressed files may be shared by several nodes: open each once.
                self._check_image(node_id, path, report)
            named.add(relative)

        for path in self._stored_files():
            relative = path.relative_to(self.folder).as_posix()
            if path.name.startswith(TEMP_PREFIX):
                report.temporaries.append(path)
            elif relative not in named:
                report.orphans.append(path)
        return report

    def _check_image(self, node_id: int, path: Path, report: VerifyReport) -> None:
        try:
            with Image.open(path) as image:
                image.load()
        except (OSError, SyntaxError) as error:
            report.errors.append(f"node {node_id}: image does not open: {path.name} ({error})")

    def _stored_files(self) -> list[Path]:
        files = []
        for folder in STORE_FOLDERS:
            files.extend(p for p in sorted((self.folder / folder).rglob("*")) if p.is_file())
        files.extend(p for p in (self.folder / "thumbs").glob(TEMP_PREFIX + "*"))
        return files

    def repair(self, report: VerifyReport) -> list[Path]:
        """Move orphan files into `orphans/` and delete leftover temporary files."""
        moved = []
        for path in report.orphans:
            target = self.folder / "orphans" / path.relative_to(self.folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            moved.append(target)
            log.info("moved orphan file %s to %s", path, target)
        for path in report.temporaries:
            path.unlink(missing_ok=True)
            log.info("deleted unfinished temporary file %s", path)
        return moved


def _state_from_row(row: sqlite3.Row) -> NodeState:
    return NodeState(id=row["id"], node=row["node"], number=row["number"], created_at=row["created_at"],
                     image=row["image"], raw=row["raw"], answer=row["answer"],
                     provenance=json.loads(row["provenance"]))


class _Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.OperationalError as commit_error:
                self.db.execute("ROLLBACK")
                _raise_database_error(commit_error)
        self.db.execute("ROLLBACK")
        if isinstance(error, sqlite3.OperationalError):
            _raise_database_error(error)


def _raise_database_error(error: sqlite3.OperationalError) -> None:
    if "full" in str(error).lower():
        raise TwowayError("errors.disk_full", path="database", free_mb=0) from error
    raise TwowayError("errors.archive_write_failed", reason=str(error)) from error


def write_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` through a temporary file, fsync and rename.

    On failure the temporary file is removed and `target` is left as it was;
    a full disk raises `TwowayError("errors.disk_full")`.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}{target.suffix}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        _fsync_folder(target.parent)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno in DISK_FULL_ERRORS:
            raise TwowayError("errors.disk_full", path=target.parent, free_mb=0) from error
        raise TwowayError("errors.archive_write_failed", reason=f"{target}: {error.strerror}") from error


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
