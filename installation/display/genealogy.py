"""The order in which the genealogy walk visits nodes."""

from __future__ import annotations

from installation.familytree import walk_tree


class Genealogy:
    """Visible nodes in walk order: depth first from each first painting, children in id order.

    Hidden nodes are left out; a visible child of a hidden node is visited where
    its hidden parent would have been. After the last node the walk returns to
    the first root.
    """

    def __init__(self, nodes):
        self.all_nodes = {node.id: node for node in nodes}
        self.nodes = {node.id: node for node in nodes if not node.hidden}
        self.order = self._walk_order(nodes)
        self._position = {node_id: i for i, node_id in enumerate(self.order)}

    def _walk_order(self, nodes) -> list[int]:
        return [node.id for _, node in walk_tree(nodes) if node.id in self.nodes]

    def __contains__(self, node_id) -> bool:
        return node_id in self.nodes

    def __len__(self) -> int:
        return len(self.order)

    @property
    def root(self) -> int | None:
        return self.order[0] if self.order else None

    def node(self, node_id: int):
        return self.all_nodes.get(node_id)

    def next_of(self, node_id: int | None) -> int | None:
        """Return the node after `node_id` in walk order, wrapping to the root after the last."""
        if not self.order:
            return None
        position = self._position.get(node_id)
        if position is None:
            return self.root
        return self.order[(position + 1) % len(self.order)]

    def previous_of(self, node_id: int | None) -> int | None:
        if not self.order:
            return None
        position = self._position.get(node_id)
        if position is None:
            return self.root
        return self.order[(position - 1) % len(self.order)]
