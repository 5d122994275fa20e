"""Reading OSC packets: a structure check, then python-osc's parser.

python-osc 1.10.2 parses packets well but trusts them: a bundle element with a
negative size makes `OscBundle` loop forever, and an unknown type tag or bundle
element makes it log a warning on the root logger for every occurrence. So each
datagram is first walked here, using python-osc's own readers, and only a
packet whose sizes, type tags and nesting are sound is handed to
`pythonosc.osc_packet.OscPacket`.
"""

from __future__ import annotations

import struct

from pythonosc import osc_packet
from pythonosc.parsing import osc_types

BUNDLE_PREFIX = b"#bundle\x00"
BUNDLE_HEADER_BYTES = 16  # the prefix and an 8-byte time tag

# Type tags python-osc 1.10.2 decodes; anything else is rejected before parsing.
KNOWN_TYPE_TAGS = frozenset("ihfdsbrmtTFN[]")

MAX_BUNDLE_DEPTH = 8


class MalformedPacket(Exception):
    """A datagram that is not a sound OSC packet; the message states what is wrong."""


class TooManyMessages(MalformedPacket):
    """A bundle holding more messages than the server accepts."""


def check_packet(dgram: bytes, max_messages: int) -> int:
    """Check the structure of one datagram and return how many messages it holds.

    Raises MalformedPacket (or TooManyMessages) without parsing any argument.
    """
    if not dgram:
        raise MalformedPacket("empty datagram")
    if len(dgram) % 4:
        raise MalformedPacket(f"size {len(dgram)} is not a multiple of 4 bytes")
    count = _check_element(dgram, depth=0)
    if count > max_messages:
        raise TooManyMessages(f"bundle contains {count} messages, the maximum is {max_messages}")
    return count


def _check_element(dgram: bytes, depth: int) -> int:
    if dgram.startswith(BUNDLE_PREFIX):
        return _check_bundle(dgram, depth)
    if dgram.startswith(b"/"):
        _check_message(dgram)
        return 1
    raise MalformedPacket("neither a message (starting with '/') nor a bundle")


def _check_bundle(dgram: bytes, depth: int) -> int:
    if depth >= MAX_BUNDLE_DEPTH:
        raise MalformedPacket(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    if len(dgram) < BUNDLE_HEADER_BYTES:
        raise MalformedPacket("bundle shorter than its header")

    # Each element is a 32-bit size, then that many bytes; python-osc would loop on a negative size.
    count = 0
    index = BUNDLE_HEADER_BYTES
    while index < len(dgram):
        if index + 4 > len(dgram):
            raise MalformedPacket("bundle element size is truncated")
        (size,) = struct.unpack_from(">i", dgram, index)
        index += 4
        if size <= 0 or size % 4 or index + size > len(dgram):
            raise MalformedPacket(f"bundle element size {size} is invalid")
        count += _check_element(dgram[index:index + size], depth + 1)
        index += size
    return count


def _check_message(dgram: bytes) -> None:
    try:
        address, index = osc_types.get_string(dgram, 0)
        if index >= len(dgram):
            return
        type_tag, _ = osc_types.get_string(dgram, index)
    except (osc_types.ParseError, UnicodeDecodeError) as error:
        raise MalformedPacket(f"unreadable address or type tag ({error})") from None
    if not type_tag.startswith(","):
        raise MalformedPacket(f"type tag {type_tag[:16]!r} does not start with ','")
    unknown = set(type_tag[1:]) - KNOWN_TYPE_TAGS
    if unknown:
        raise MalformedPacket(f"unsupported type tags {''.join(sorted(unknown))!r}")


def read_packet(dgram: bytes, max_messages: int) -> list[osc_packet.TimedMessage]:
    """Check and parse one datagram into messages with the system time each should run at.

    A bundle's messages come sorted by time; an immediate message gets the current
    time. Raises MalformedPacket for anything that is not a sound OSC packet.
    """
    check_packet(dgram, max_messages)
    try:
        return osc_packet.OscPacket(dgram).messages
    except (osc_packet.ParseError, UnicodeDecodeError) as error:
        # python-osc 1.10.2 lets UnicodeDecodeError out of its string reader.
        raise MalformedPacket(str(error)) from None
