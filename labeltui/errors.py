"""The one exception user input may raise: a LoadError a person can act on."""

from __future__ import annotations

import re
from pathlib import Path

_LINE_BREAKS = re.compile(r"\s*[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+\s*")


def one_line(text: str) -> str:
    """text on one printable line: line breaks (and the spaces around them) become
    one space, lone surrogates (undecodable file names) become ``\\udcff`` escapes."""
    text = _LINE_BREAKS.sub(" ", text.strip())
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class LoadError(Exception):
    """Bad user input: names the file, line and field where known, and what to do.

    ``str(err)`` is one line: ``path:line: field: message`` (line breaks in any
    part, e.g. pasted library error text, become spaces; see :func:`one_line`).
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
        return one_line(f"{where}{field}{self.message}")
