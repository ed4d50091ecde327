"""What every strategy shares: expanding a node through the evaluator, valuing it, the budget, the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tot.core import Answer, Budget, Evaluator, Found, Meter, Result, Task, Tracker
from tot.tree import Node, SearchTree
from tot.written import is_open_ended


class BudgetReached(Exception):
    """Raised inside a strategy when a budget limit is reached; carries the limit's name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Search:
    """One search in progress: the tree, the budget tracker, and the two evaluator calls.

    Strategies call `expand` and `value` and never touch the model or the domain directly.
    `meter` defaults to the evaluator's (model-free evaluators have none).
    """

    def __init__(
        self,
        strategy: str,
        task: Task[Any, Any],
        evaluator: Evaluator[Any, Any],
        root_state: Any,
        budget: Budget,
        config: dict[str, Any],
        *,
        meter: Meter | None = None,
    ) -> None:
        self.strategy = strategy
        self.task = task
        self.evaluator = evaluator
        self.tree = SearchTree(task, root_state)
        self.tracker = Tracker(budget, meter if meter is not None else getattr(evaluator, "meter", None))
        self.config = config
        self.notes: list[str] = []
        self.goals: list[Node] = []
        # An anytime search's better goals, in the order found, each with (seconds, calls, nodes expanded) then
        self.improvements: list[tuple[Node, float, int, int]] = []
        # The evaluator's prior on each edge (parent id, child id): a node reached from two
        # parents (a transposition) keeps one `prior`, the one from its first parent.
        self.priors: dict[tuple[int, int], float] = {}

    @property
    def root(self) -> Node:
        return self.tree.root

    def check(self) -> None:
        """Raise `BudgetReached` when any budget limit is reached."""
        reason = self.tracker.exhausted()
        if reason is not None:
            raise BudgetReached(reason)

    def run(self, body: Callable[[], str | None]) -> str:
        """Run a strategy's loop; the stop reason: its own, "exhausted", a budget's name, or "interrupted".

        While it runs, the model's meter checks the budget before every model call, so that the
        search stops within one call of a limit even when one step makes several calls.
        """
        meter = self.tracker.meter
        outer, meter.guard = meter.guard, self.check
        try:
            return body() or "exhausted"
        except BudgetReached as reached:
            return reached.reason
        except KeyboardInterrupt:
            return "interrupted"
        finally:
            meter.guard = outer

    def expand(self, node: Node) -> list[Node]:
        """Ask the evaluator for thoughts from `node` and add them as children (shared by key)."""
        if node.expanded_at is not None:
            return list(node.children)
        self.tree.mark_expanded(node)
        self.tracker.nodes_expanded += 1
        if self.task.is_terminal(node.state):
            return []
        children: list[Node] = []
        seen: set[int] = set()
        for candidate in self.evaluator.prior(node.state):
            child = self.add_child(
                node, candidate.action, thought=candidate.thought, source=candidate.source, prior=candidate.prior
            )
            if child is not node:
                edge = (node.id, child.id)
                self.priors[edge] = self.priors.get(edge, 0.0) + candidate.prior
                if child.id not in seen:
                    seen.add(child.id)
                    children.append(child)
        return children

    def add_child(self, node: Node, action: Any, *, thought: str, source: str, prior: float) -> Node:
        """The node reached by `action` from `node`, created (and counted, and checked for a goal) if new."""
        state = self.task.result(node.state, action)
        child, created = self.tree.child(node, state, action=action, thought=thought, source=source, prior=prior)
        if created:
            self.tracker.nodes_generated += 1
            if child.goal:
                self.goals.append(child)
        return child

    def prior(self, parent: Node, child: Node) -> float:
        """The evaluator's prior for the edge `parent` -> `child` (the child's own prior if not recorded)."""
        return self.priors.get((parent.id, child.id), child.prior)

    def value(self, node: Node) -> float:
        """The node's value, asking the evaluator once per node."""
        if node.value is None:
            node.value = self.evaluator.evaluate(node.state)
        return node.value

    def value_all(self, nodes: list[Node]) -> None:
        """Value every node not yet valued: in one batch where the evaluator has `evaluate_many`
        (an optional method beside the Evaluator protocol), else one by one."""
        todo = [node for node in nodes if node.value is None]
        many = getattr(self.evaluator, "evaluate_many", None)
        if many is None or len(todo) < 2:
            for node in todo:
                self.check()
                self.value(node)
            return
        self.check()
        for node, value in zip(todo, many([node.state for node in todo])):
            node.value = value

    def best_goal(self) -> Node | None:
        """The goal of highest value an anytime search has offered (`offer`), if any."""
        return self.improvements[-1][0] if self.improvements else None

    def offer(self, node: Node) -> bool:
        """Keep the valued goal `node` as the best so far when its value beats the best's; True if it does."""
        best = self.best_goal()
        if node.value is None or not node.goal or (best is not None and node.value <= (best.value or 0.0)):
            return False
        usage = self.tracker.usage()
        self.improvements.append((node, usage.seconds, usage.calls, usage.nodes_expanded))
        return True

    def dead(self, node: Node) -> bool:
        """Whether `node` cannot lead to a goal: a terminal non-goal, or marked dead by the strategy.

        A finished state of an open-ended task (its answers are ranked, not verified) is not dead.
        """
        if node.status == "dead":
            return True
        return not node.goal and self.task.is_terminal(node.state) and not is_open_ended(self.task)

    def result(self, stop_reason: str, *, finals: list[Node] | None = None, best: Node | None = None) -> Result:
        """The Result: the first goal found (verified by the task), else the best node's path."""
        root_state = self.tree.root.state
        if self.improvements:
            return self._anytime_result(stop_reason)
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
        return self.finish(
            "solved" if self.goals and stop_reason != "interrupted" else stop_reason,  # Ctrl-C is never lost
            answer,
            best.thoughts() if best is not None else (),
            candidates=candidates,
        )

    def _anytime_result(self, stop_reason: str) -> Result:
        """An anytime search's Result: its best goal (the answer graded by the task, after the search), every
        better goal on the way (`found`), and the stop reason as it is (no goal stops an anytime search)."""
        root_state = self.tree.root.state
        found = tuple(
            Found(self.task.answer(root_state, node.actions()), node.value or 0.0, node.thoughts(), seconds, calls, nodes)
            for node, seconds, calls, nodes in self.improvements
        )
        best = self.improvements[-1][0]
        best.status = "solution"
        return self.finish(stop_reason, found[-1].answer, best.thoughts(), found=found)

    def finish(
        self,
        stop_reason: str,
        answer: Answer | None,
        path: tuple[str, ...],
        *,
        candidates: tuple[Answer, ...] = (),
        found: tuple[Found, ...] = (),
    ) -> Result:
        """The Result with a given answer and path, this search's tree, usage, notes and config."""
        return Result(
            strategy=self.strategy,
            answer=answer,
            path=path,
            tree=self.tree,
            usage=self.tracker.usage(),
            stop_reason=stop_reason,
            candidates=candidates,
            notes=tuple(self.notes),
            config={"strategy": self.strategy, **self.config},
            found=found,
        )


def ranked(nodes: list[Node]) -> list[Node]:
    """Nodes by descending value, ties broken by creation order (stable)."""
    return sorted(nodes, key=lambda n: (-(n.value if n.value is not None else 0.0), n.id))
