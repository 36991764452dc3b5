"""The Textual app: ``labeltui open CONFIG``."""

from labeltui.tui.app import LabelTuiApp

__all__ = ["LabelTuiApp"]
