"""The TouchOSC layout in assets/tablet: up to date, and every address in it handled by the server."""

import importlib.util
import zlib
from pathlib import Path
from xml.etree import ElementTree

import pytest

from installation.osc.addresses import COMMAND_ADDRESSES, LANGUAGES, SCENES, SERVER_ADDRESSES
from installation.osc.feedback import STATE_FIELDS

TABLET = Path(__file__).resolve().parents[1] / "assets" / "tablet"
ROOT = "/twoway"


def load_generator():
    spec = importlib.util.spec_from_file_location("make_layout", TABLET / "make_layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def layout() -> ElementTree.Element:
    return ElementTree.fromstring(zlib.decompress((TABLET / "twoway.tosc").read_bytes()))


def osc_messages(layout, send: bool) -> list[tuple[str, list[str]]]:
    found = []
    for osc in layout.iter("osc"):
        if osc.findtext("send") == str(int(send)):
            address = osc.find("path/partial").findtext("value")
            arguments = [partial.findtext("value") for partial in osc.findall("arguments/partial")]
            found.append((address, arguments))
    return found


def test_layout_file_up_to_date(tmp_path):
    written = load_generator().write_layout(tmp_path / "twoway.tosc")
    assert written == (TABLET / "twoway.tosc").read_bytes()


def test_layout_root_is_group(layout):
    assert layout.tag == "lexml"
    assert layout.find("node").get("type") == "GROUP"


def test_sent_addresses_known(layout):
    known = {f"{ROOT}/{name}" for name in (*COMMAND_ADDRESSES, *SERVER_ADDRESSES)}
    sent = osc_messages(layout, send=True)
    assert len(sent) >= 12
    assert [address for address, _ in sent if address not in known] == []


def test_string_arguments_valid(layout):
    for address, arguments in osc_messages(layout, send=True):
        if address == f"{ROOT}/scene":
            assert arguments[0] in SCENES
        if address == f"{ROOT}/language":
            assert arguments[0] in LANGUAGES


def test_labels_receive_state_fields(layout):
    received = {address for address, _ in osc_messages(layout, send=False)}
    assert received == {f"{ROOT}/state/{field}" for field in STATE_FIELDS}
