"""The one shape of a refusal: a ``ValueError`` carrying one ``key: reason`` line per problem."""

from __future__ import annotations


class ErrorList(ValueError):
    """Every problem found, not just the first; ``heading`` (a file, say) comes first, the lines indented."""

    def __init__(self, errors: list[str], heading: str | None = None) -> None:
        lines = "\n".join(f"  {e}" for e in errors) if heading else "\n".join(errors)
        super().__init__(f"{heading}\n{lines}" if heading else lines)
        self.errors = errors
