"""The worker's generate job on multiscale children, and the registered job kinds."""

import pytest

from installation.config import load_settings
from installation.jobs import JOB_HANDLERS, JobContext
from models import job_handlers
from tests.models.test_multiscale import TINY, one_thread  # noqa: F401  (an autouse fixture)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """A painting with a trained multiscale checkpoint, a child of it and a grandchild."""
    from installation.archive import Archive
    from tests.conftest import painting_paths

    archive = Archive(tmp_path_factory.mktemp("jobs") / "archive")
    settings = load_settings(overrides=TINY + ["networks.network=multiscale", "networks.output_side=40"])
    context = JobContext("test", archive, "cpu", settings, lambda *report: None, lambda: False)
    painting = archive.import_photo(painting_paths()[1])
    job_handlers.train({"node_id": painting.id}, context)
    child = job_handlers.generate({"node_id": painting.id, "seed": 1}, context)["node_ids"][0]
    grandchild = job_handlers.generate({"node_id": child, "seed": 2, "vary_from": 0}, context)["node_ids"][0]
    yield {"archive": archive, "painting": painting, "child": archive.node(child),
           "grandchild": archive.node(grandchild), "context": context}
    archive.close()


def test_child_of_machine_image_is_stored(family):
    assert family["grandchild"].parents == (family["child"].id,)


def test_child_of_machine_image_uses_painting_checkpoint(family):
    assert family["grandchild"].provenance["checkpoint"] == family["child"].provenance["checkpoint"]


def test_vary_from_reaches_network(family):
    assert family["grandchild"].provenance["vary_from_scale"] == 0


def test_vary_from_is_reset_after_job(family):
    network = job_handlers.network_for("multiscale", family["context"])
    assert network.vary_from == family["context"].settings.multiscale.vary_from_scale


def test_checkpoint_for_child_is_painting_checkpoint(family):
    archive = family["archive"]
    path = job_handlers.checkpoint_for(archive, "multiscale", family["child"])
    assert path.name == f"node-{family['painting'].id}.pt"


def test_reference_job_is_registered():
    assert JOB_HANDLERS["reference"] == "installation.reference:reference_job"
