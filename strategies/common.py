"""What every strategy shares: expanding a node through the evaluator, valuing it, the budget, the result."""

from __future__ import annotations

from typing import Any

from tot.core import Budget, Evaluator, Result, Task, Tracker
from tot.tree import Node, SearchTree


class BudgetReached(Exception):
    """Raised inside a strategy when a budget limit is reached; carries the limit's name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Search:
    """One search in progress: the tree, the budget tracker, and the two evaluator calls.

    Strategies call `expand` and `value` and never touch the model or the domain directly.
    """

    def __init__(
        self,
        strategy: str,
        task: Task[Any, Any],
        evaluator: Evaluator[Any, Any],
        root_state: Any,
        budget: Budget,
        config: dict[str, Any],
    ) -> None:
        self.strategy = strategy
        self.task = task
        self.evaluator = evaluator
        self.tree = SearchTree(task, root_state)
        self.tracker = Tracker(budget, getattr(evaluator, "meter", None))
        self.config = config
        self.notes: list[str] = []
        self.goals: list[Node] = []

    @property
    def root(self) -> Node:
        return self.tree.root

    def check(self) -> None:
        """Raise `BudgetReached` when any budget limit is reached."""
        reason = self.tracker.exhausted()
        if reason is not None:
            raise BudgetReached(reason)

    def expand(self, node: Node) -> list[Node]:
        """Ask the evaluator for thoughts from `node` and add them as children (shared by key)."""
        if node.expanded_at is not None:
            return list(node.children)
        self.tree.mark_expanded(node)
        self.tracker.nodes_expanded += 1
        if self.task.is_terminal(node.state):
            return []
        children: list[Node] = []
        for candidate in self.evaluator.prior(node.state):
            state = self.task.result(node.state, candidate.action)
            child, created = self.tree.child(
                node,
                state,
                action=candidate.action,
                thought=candidate.thought,
                source=candidate.source,
                prior=candidate.prior,
            )
            if created:
                self.tracker.nodes_generated += 1
                if child.goal:
                    self.goals.append(child)
            if child not in children and child is not node:
                children.append(child)
        return children

    def value(self, node: Node) -> float:
        """The node's value, asking the evaluator once per node."""
        if node.value is None:
            node.value = self.evaluator.evaluate(node.state)
        return node.value

    def result(self, stop_reason: str, *, finals: list[Node] | None = None, best: Node | None = None) -> Result:
        """The Result: the first goal found (verified by the task), else the best node's path."""
        root_state = self.tree.root.state
        answer = None
        if best is None and not self.goals:
            valued = [n for n in self.tree if n.value is not None]
            best = max(valued, key=lambda n: (n.depth, n.value or 0.0, -n.id), default=None)
        if self.goals:
            best = self.goals[0]
            best.status = "solution"
            answer = self.task.answer(root_state, best.actions())
        elif best is not None and self.task.is_terminal(best.state):
            answer = self.task.answer(root_state, best.actions())
        candidates = tuple(
            self.task.answer(root_state, node.actions())
            for node in (finals or [])
            if self.task.is_terminal(node.state)
        )
        return Result(
            strategy=self.strategy,
            answer=answer,
            path=best.thoughts() if best is not None else (),
            tree=self.tree,
            usage=self.tracker.usage(),
            stop_reason="solved" if self.goals else stop_reason,
            candidates=candidates,
            notes=tuple(self.notes),
            config={"strategy": self.strategy, **self.config},
        )


def ranked(nodes: list[Node]) -> list[Node]:
    """Nodes by descending value, ties broken by creation order (stable)."""
    return sorted(nodes, key=lambda n: (-(n.value if n.value is not None else 0.0), n.id))
