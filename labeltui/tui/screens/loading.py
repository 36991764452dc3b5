"""The loading screen: what is being read and how far; a load error in place of a traceback."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, ProgressBar, Static


class LoadingScreen(Screen):
    """Progress while the run loads and scores; q quits."""

    BINDINGS = [Binding("q,escape", "app.quit", "quit", id="loading-quit")]

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        with Center(id="loading"):
            with Vertical(id="loading-box"):
                yield Label(Text.assemble(("labeltui", "bold"), "  opening ", (self.source, "bold")))
                yield ProgressBar(total=1.0, show_eta=False, id="loading-progress")
                yield Static("starting", id="loading-message")
                yield Static("", id="loading-error")
        yield Footer(compact=True)

    def progress(self, message: str, fraction: float) -> None:
        """Show a step of the load."""
        self.query_one(ProgressBar).update(progress=max(0.0, min(1.0, fraction)))
        self.query_one("#loading-message", Static).update(message)

    def failed(self, message: str) -> None:
        """Show why the run could not be opened."""
        self.query_one(ProgressBar).display = False
        self.query_one("#loading-message", Static).update(Text("could not open the run:", style="bold"))
        error = self.query_one("#loading-error", Static)
        error.update(Text.assemble((message, "bold"), "\n\nfix it and run the command again; q quits"))
        error.add_class("-shown")
