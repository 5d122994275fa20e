"""The structure check that runs before python-osc parses a datagram."""

import struct

import pytest
from pythonosc.osc_message_builder import build_msg

from installation.osc.packets import MalformedPacket, TooManyMessages, check_packet, read_packet

MESSAGE = build_msg("/twoway/select", [3]).dgram


def bundle(*elements: bytes) -> bytes:
    body = b"".join(struct.pack(">i", len(element)) + element for element in elements)
    return b"#bundle\x00" + b"\x00" * 7 + b"\x01" + body


def test_message_counts_one():
    assert check_packet(MESSAGE, max_messages=4) == 1


def test_bundle_counts_nested_messages():
    assert check_packet(bundle(MESSAGE, bundle(MESSAGE, MESSAGE)), max_messages=4) == 3


def test_read_packet_returns_message():
    (timed,) = read_packet(MESSAGE, max_messages=4)
    assert timed.message.params == [3]


BROKEN = [
    (b"", "empty"),
    (b"abc", "multiple of 4"),
    (b"junk", "neither"),
    # python-osc 1.10.2 loops forever on a bundle element with a negative size.
    (b"#bundle\x00" + b"\x00" * 7 + b"\x01" + struct.pack(">i", -4), "size -4"),
    (bundle(MESSAGE)[:-4], "size"),
    (bundle(b"nope"), "neither"),
    (b"/a\x00\x00,q\x00\x00", "unsupported type tags"),
    (b"/a\x00\x00i\x00\x00\x00", "does not start with ','"),
    (b"/\xff\xfe\x00,\x00\x00\x00", "unreadable"),
    (b"/abc", "unreadable"),
]


@pytest.mark.parametrize("datagram, fragment", BROKEN)
def test_broken_datagram_rejected(datagram, fragment):
    with pytest.raises(MalformedPacket, match=fragment):
        check_packet(datagram, max_messages=4)


def test_deep_nesting_rejected():
    nested = MESSAGE
    for _ in range(10):
        nested = bundle(nested)
    with pytest.raises(MalformedPacket, match="nested"):
        check_packet(nested, max_messages=4)


def test_too_many_messages_rejected():
    with pytest.raises(TooManyMessages):
        check_packet(bundle(*[MESSAGE] * 5), max_messages=4)


def test_truncated_argument_rejected_by_parser():
    with pytest.raises(MalformedPacket):
        read_packet(MESSAGE[:-4], max_messages=4)
