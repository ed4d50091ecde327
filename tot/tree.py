"""The search tree every strategy builds: one node per canonical state, so transpositions share a node."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx

    from tot.core import Task


class Node:
    """One state in the search. `parent`/`action`/`thought` record the first path that reached it."""

    __slots__ = (
        "id",
        "state",
        "key",
        "parent",
        "action",
        "thought",
        "source",
        "prior",
        "value",
        "visits",
        "value_sum",
        "depth",
        "children",
        "status",
        "expanded_at",
        "goal",
        "label",
    )

    def __init__(
        self,
        id: int,
        state: Any,
        key: Hashable,
        parent: Node | None = None,
        action: Any = None,
        thought: str = "",
        source: str = "",
        prior: float = 1.0,
        label: str = "",
    ) -> None:
        self.id = id
        self.label = label
        self.state = state
        self.key = key
        self.parent = parent
        self.action = action
        self.thought = thought
        self.source = source
        self.prior = prior
        self.value: float | None = None
        self.visits = 0
        self.value_sum = 0.0
        self.depth: int = 0 if parent is None else parent.depth + 1
        self.children: list[Node] = []
        self.status = "frontier"  # frontier | kept | pruned | expanded | solution | dead
        self.expanded_at: int | None = None
        self.goal = False

    def path(self) -> list[Node]:
        """Nodes from the root to this one, along the first path that reached it."""
        nodes: list[Node] = []
        node: Node | None = self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return nodes[::-1]

    def actions(self) -> list[Any]:
        return [n.action for n in self.path()[1:]]

    def thoughts(self) -> tuple[str, ...]:
        return tuple(n.thought for n in self.path()[1:])

    def __repr__(self) -> str:
        return f"Node({self.id}, {self.key!r}, value={self.value}, status={self.status})"


class SearchTree:
    """All nodes of a search, keyed by canonical state key, plus the order they were expanded in."""

    def __init__(self, task: Task[Any, Any], root_state: Any) -> None:
        self.task = task
        root_key = task.key(root_state)
        self.root = Node(0, root_state, root_key, label=task.render(root_state))
        self.nodes: dict[Hashable, Node] = {root_key: self.root}
        self.edges: list[tuple[int, int, str]] = []
        self.expansion_order: list[int] = []

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def child(
        self,
        parent: Node,
        state: Any,
        *,
        action: Any,
        thought: str,
        source: str,
        prior: float,
    ) -> tuple[Node, bool]:
        """The node for `state` below `parent`, created if its key is new. Returns (node, created)."""
        key = self.task.key(state)
        node = self.nodes.get(key)
        created = node is None
        if node is None:
            label = self.task.render(state)
            node = Node(len(self.nodes), state, key, parent, action, thought, source, prior, label)
            if self.task.is_goal(state):
                node.goal = True
            self.nodes[key] = node
        if node is not parent and node not in parent.children:
            parent.children.append(node)
            self.edges.append((parent.id, node.id, thought))
        return node, created

    def mark_expanded(self, node: Node) -> None:
        if node.expanded_at is None:
            node.expanded_at = len(self.expansion_order)
            self.expansion_order.append(node.id)
            if node.status in ("frontier", "kept"):
                node.status = "expanded"

    def complete(self, *, limit: int = 100_000) -> bool:
        """Whether the search saw every state reachable from the start: every non-terminal node was expanded
        and has a child for each of the task's legal actions. With no goal in it, such a tree proves that the
        puzzle has no solution. False (not proved) beyond `limit` legal actions in all."""
        task, checked = self.task, 0
        for node in self.nodes.values():
            if node.expanded_at is None and not task.is_terminal(node.state):
                return False
        for node in self.nodes.values():
            if node.expanded_at is None or task.is_terminal(node.state):
                continue
            actions = task.actions(node.state)
            checked += len(actions)
            if checked > limit:
                return False
            children = {child.key for child in node.children}
            if any(task.key(task.result(node.state, action)) not in children for action in actions):
                return False
        return True

    def to_networkx(self) -> networkx.DiGraph:
        """The tree as a networkx DiGraph: node ids with their attributes (None where unset), edges with their
        thought and whether they reach a node first reached from another parent (`transposition`)."""
        return graph(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodes": [_node_dict(n) for n in sorted(self.nodes.values(), key=lambda n: n.id)],
            "edges": [{"parent": p, "child": c, "thought": t} for p, c, t in self.edges],
            "expansion_order": list(self.expansion_order),
        }


def _node_dict(node: Node) -> dict[str, Any]:
    return {
        "id": node.id,
        "state": node.label,
        "parent": None if node.parent is None else node.parent.id,
        "thought": node.thought,
        "source": node.source,
        "prior": round(node.prior, 6),
        "value": None if node.value is None else round(node.value, 6),
        "visits": node.visits,
        "depth": node.depth,
        "status": node.status,
        "goal": node.goal,
        "expanded_at": node.expanded_at,
    }


def graph(tree: dict[str, Any], *, exportable: bool = False) -> networkx.DiGraph:
    """A DiGraph from `SearchTree.as_dict()` (or a saved result's "tree"). `exportable` leaves out unset (None)
    attributes, so that GraphML and GEXF writers, which take only str, int, float and bool, accept every one."""
    import networkx

    result = networkx.DiGraph()
    for node in tree["nodes"]:
        result.add_node(node["id"], **{k: v for k, v in node.items() if not (exportable and v is None)})
    for edge in tree["edges"]:  # an edge to a node first reached from another parent: a transposition
        transposition = result.nodes[edge["child"]].get("parent") != edge["parent"]
        result.add_edge(edge["parent"], edge["child"], thought=edge["thought"], transposition=transposition)
    return result
