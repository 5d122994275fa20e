from dataclasses import dataclass

from PIL import Image

from installation.familytree import draw_family_tree, layout_tree


@dataclass
class FakeNode:
    """A node with just the fields the layout reads."""

    id: int
    parents: tuple
    generation: int
    kind: str = "painting"
    chosen: bool = False


def chain_with_branches():
    return [FakeNode(1, (), 0), FakeNode(2, (1,), 1), FakeNode(3, (1,), 1), FakeNode(4, (2,), 2)]


def test_parent_is_centred_over_children():
    places = layout_tree(chain_with_branches())
    assert places[1].x == (places[2].x + places[3].x) / 2


def test_nodes_do_not_share_a_slot():
    places = layout_tree(chain_with_branches())
    slots = {(p.x, p.generation) for p in places.values()}
    assert len(slots) == 4


def test_deep_chain_does_not_recurse():
    nodes = [FakeNode(1, (), 0)] + [FakeNode(i, (i - 1,), i - 1) for i in range(2, 3000)]
    assert len(layout_tree(nodes)) == 2999


def test_picture_grows_with_generations():
    picture = draw_family_tree(chain_with_branches(), lambda node: Image.new("RGB", (40, 30)), side=40)
    assert picture.height > picture.width
