"""The lab's one kind of failure: a line that says what is wrong and what to do."""

from __future__ import annotations


class LabError(Exception):
    """A fault the operator can act on: ``problem`` is what went wrong, ``remedy`` what to do."""

    def __init__(self, problem: str, remedy: str) -> None:
        super().__init__(problem, remedy)
        self.problem = problem
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.problem}; {self.remedy}"
