"""Write the TouchOSC layout `twoway.tosc` for the artist's tablet.

A .tosc file is a zlib-compressed XML document: a root `<lexml version='3'>`
holding one GROUP node, whose children are the controls. Each control has
`<properties>` (name, frame, colour...), `<values>` (x for buttons and faders,
text for labels) and `<messages>` with the OSC it sends or receives.

    .venv/bin/python assets/tablet/make_layout.py [--root /twoway] [--output assets/tablet/twoway.tosc]

NOTE: the file follows the structure of .tosc files saved by TouchOSC (2022 and
later) as far as public examples show it. It has not been opened in TouchOSC,
because TouchOSC does not run on the build machines. Open it once in the
TouchOSC editor and save it, so TouchOSC adds the properties it sets by default.
"""

from __future__ import annotations

import argparse
import uuid
import zlib
from pathlib import Path
from xml.etree import ElementTree

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 1280, 800  # layout size in TouchOSC points, a landscape tablet

# Momentary buttons: (name, caption, address suffix, string argument or None), row by row.
BUTTON_ROWS = [
    [("generate", "Generar · Generate", "generate", None),
     ("previous", "◀ Anterior · Previous", "previous", None),
     ("next", "Siguiente · Next ▶", "next", None),
     ("pause", "Pausa · Pause", "pause", None)],
    [("walk", "Genealogía · Walk", "scene", "walk"),
     ("tree", "Árbol · Tree", "scene", "tree"),
     ("live", "Cámara · Live", "scene", "live"),
     ("capture", "Fotografiar · Capture", "capture", None)],
    [("overlay", "Estado · Status overlay", "overlay", None),
     ("hello", "Conectar · Connect", "hello", None),
     ("spanish", "Español", "language", "es"),
     ("english", "English", "language", "en")],
]

# State labels: (caption, field of <root>/state/...), one per row.
STATE_LABELS = [
    ("Número · Number", "node_id"), ("Imagen · Image", "node_title"),
    ("Generación · Generation", "node_generation"), ("Tipo · Kind", "node_kind"),
    ("Escena · Scene", "scene"), ("Redes · Networks", "worker"),
    ("Progreso · Progress", "progress"), ("En cola · Queued", "queue"),
    ("Cámara · Camera", "camera"), ("Pausa · Paused", "paused"),
    ("Negro · Blackout", "blackout"), ("Idioma · Language", "language"),
    ("Error", "last_error"),
]


def _property(parent: ElementTree.Element, kind: str, key: str, value) -> None:
    prop = ElementTree.SubElement(parent, "property", type=kind)
    ElementTree.SubElement(prop, "key").text = key
    holder = ElementTree.SubElement(prop, "value")
    if kind == "r":
        for name, number in zip("xywh", value):
            ElementTree.SubElement(holder, name).text = str(number)
    elif kind == "c":
        for name, number in zip("rgba", value):
            ElementTree.SubElement(holder, name).text = str(number)
    else:
        holder.text = str(value)


def _value(parent: ElementTree.Element, key: str, default: str) -> None:
    value = ElementTree.SubElement(parent, "value")
    ElementTree.SubElement(value, "key").text = key
    ElementTree.SubElement(value, "locked").text = "0"
    ElementTree.SubElement(value, "lockedDefaultCurrent").text = "0"
    ElementTree.SubElement(value, "default").text = default
    ElementTree.SubElement(value, "defaultPull").text = "0"


def _partial(parent: ElementTree.Element, kind: str, conversion: str, value: str) -> None:
    partial = ElementTree.SubElement(parent, "partial")
    ElementTree.SubElement(partial, "type").text = kind
    ElementTree.SubElement(partial, "conversion").text = conversion
    ElementTree.SubElement(partial, "value").text = value
    ElementTree.SubElement(partial, "scaleMin").text = "0"
    ElementTree.SubElement(partial, "scaleMax").text = "1"


def _osc(parent: ElementTree.Element, address: str, arguments: list[tuple[str, str, str]],
         send: bool, trigger: str | None) -> None:
    """Add one OSC message: sent when `trigger` (RISE or ANY of x) fires, or received when `send` is false."""
    osc = ElementTree.SubElement(parent, "osc")
    for tag, text in (("enabled", "1"), ("send", str(int(send))), ("receive", str(int(not send))),
                      ("feedback", "0"), ("noDuplicates", "0"), ("connections", "1111111111")):
        ElementTree.SubElement(osc, tag).text = text
    triggers = ElementTree.SubElement(osc, "triggers")
    if trigger:
        item = ElementTree.SubElement(triggers, "trigger")
        ElementTree.SubElement(item, "var").text = "x"
        ElementTree.SubElement(item, "condition").text = trigger
    path = ElementTree.SubElement(osc, "path")
    _partial(path, "CONSTANT", "STRING", address)
    holder = ElementTree.SubElement(osc, "arguments")
    for kind, conversion, value in arguments:
        _partial(holder, kind, conversion, value)


def _node(parent: ElementTree.Element, kind: str, name: str, frame: tuple[int, int, int, int],
          color: tuple[float, float, float, float]) -> ElementTree.Element:
    node = ElementTree.SubElement(parent, "node", ID=str(uuid.uuid5(uuid.NAMESPACE_URL, f"twoway/{name}")), type=kind)
    properties = ElementTree.SubElement(node, "properties")
    _property(properties, "s", "name", name)
    _property(properties, "r", "frame", frame)
    _property(properties, "c", "color", color)
    _property(properties, "b", "background", 1)
    _property(properties, "b", "outline", 1)
    return node


def button(parent, name: str, caption: str, frame, address: str, argument: str | None) -> None:
    """Add a momentary button that sends `address` once per press, with its caption on top."""
    node = _node(parent, "BUTTON", name, frame, (0.25, 0.45, 0.75, 1))
    _property(node.find("properties"), "i", "buttonType", 0)
    values = ElementTree.SubElement(node, "values")
    _value(values, "x", "0")
    _value(values, "touch", "false")
    messages = ElementTree.SubElement(node, "messages")
    arguments = [("CONSTANT", "STRING", argument)] if argument else []
    _osc(messages, address, arguments, send=True, trigger="RISE")
    label(parent, f"{name}_caption", frame, caption, None, interactive=False)


def label(parent, name: str, frame, text: str, address: str | None, interactive: bool = False) -> None:
    """Add a label showing `text`, replaced by the first argument of each message to `address`."""
    node = _node(parent, "LABEL", name, frame, (1, 1, 1, 1))
    properties = node.find("properties")
    _property(properties, "b", "interactive", int(interactive))
    _property(properties, "b", "background", 0)
    _property(properties, "i", "textSize", 20)
    values = ElementTree.SubElement(node, "values")
    _value(values, "text", text)
    if address:
        messages = ElementTree.SubElement(node, "messages")
        _osc(messages, address, [("VALUE", "STRING", "text")], send=False, trigger=None)


def fader(parent, name: str, frame, address: str) -> None:
    """Add a horizontal fader that sends its position, 0 to 1, whenever it moves."""
    node = _node(parent, "FADER", name, frame, (0.9, 0.6, 0.2, 1))
    _property(node.find("properties"), "i", "orientation", 1)
    values = ElementTree.SubElement(node, "values")
    _value(values, "x", "0.5")
    _value(values, "touch", "false")
    messages = ElementTree.SubElement(node, "messages")
    _osc(messages, address, [("VALUE", "FLOAT", "x")], send=True, trigger="ANY")


def toggle(parent, name: str, caption: str, frame, address: str) -> None:
    """Add a toggle button that sends 1 when switched on and 0 when switched off."""
    node = _node(parent, "BUTTON", name, frame, (0.6, 0.1, 0.1, 1))
    _property(node.find("properties"), "i", "buttonType", 1)
    values = ElementTree.SubElement(node, "values")
    _value(values, "x", "0")
    _value(values, "touch", "false")
    messages = ElementTree.SubElement(node, "messages")
    _osc(messages, address, [("VALUE", "INTEGER", "x")], send=True, trigger="ANY")
    label(parent, f"{name}_caption", frame, caption, None)


def build_layout(root: str = "/twoway") -> ElementTree.Element:
    """Return the layout's XML tree: buttons on the left, state labels on the right."""
    document = ElementTree.Element("lexml", version="3")
    group = _node(document, "GROUP", "twoway", (0, 0, WIDTH, HEIGHT), (0.08, 0.08, 0.08, 1))
    children = ElementTree.SubElement(group, "children")

    label(children, "heading", (20, 10, 600, 50), "Two-Way Street", None)
    for row, buttons in enumerate(BUTTON_ROWS):
        for column, (name, caption, suffix, argument) in enumerate(buttons):
            frame = (20 + column * 155, 80 + row * 140, 145, 125)
            button(children, name, caption, frame, f"{root}/{suffix}", argument)
    label(children, "speed_caption", (20, 510, 300, 40), "Velocidad · Speed", None)
    fader(children, "speed", (20, 550, 610, 80), f"{root}/speed")
    toggle(children, "blackout", "Negro · Blackout", (20, 650, 300, 120), f"{root}/blackout")

    for index, (caption, field) in enumerate(STATE_LABELS):
        top = 80 + index * 55
        label(children, f"{field}_caption", (660, top, 250, 50), caption, None)
        label(children, f"state_{field}", (910, top, 350, 50), "–", f"{root}/state/{field}")
    return document


def write_layout(path: Path, root: str = "/twoway") -> bytes:
    """Write the compressed layout to `path` and return its bytes."""
    xml = ElementTree.tostring(build_layout(root), encoding="UTF-8", xml_declaration=True)
    data = zlib.compress(xml, 9)
    path.write_bytes(data)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the TouchOSC layout for the artist's tablet.")
    parser.add_argument("--root", default="/twoway", help="OSC root address, as osc.root (default /twoway)")
    parser.add_argument("--output", type=Path, default=HERE / "twoway.tosc", help="file to write")
    args = parser.parse_args()
    write_layout(args.output, args.root)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
