"""The one exception user input may raise: a LoadError a person can act on."""

from __future__ import annotations

from pathlib import Path


class LoadError(Exception):
    """Bad user input: names the file, line and field where known, and what to do.

    ``str(err)`` is one line: ``path:line: field: message``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"
