"""Every key of the review screen, with a stable id users can remap (``keys:`` in the config)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    """One binding: ``id`` (for remapping), default ``keys``, ``action``, help text and group."""

    id: str
    keys: str
    action: str
    description: str
    group: str
    footer: str = ""  # short label when the key shows in the footer

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.footer or self.description,
            show=bool(self.footer),
            id=self.id,
        )


REVIEW_KEYS: tuple[Key, ...] = (
    Key("cursor-down", "j,down", "cursor_down", "Next row", "Move"),
    Key("cursor-up", "k,up", "cursor_up", "Previous row", "Move"),
    Key("cursor-first", "g,home", "cursor_first", "First row", "Move"),
    Key("cursor-last", "G,end", "cursor_last", "Last row", "Move"),
    Key("page-down", "pagedown,ctrl+f", "page_down", "Page down", "Move"),
    Key("page-up", "pageup,ctrl+b", "page_up", "Page up", "Move"),
    Key("verdict-error", "x", "verdict('error')", "Mark the label as an error, go to the next row", "Review", "error"),
    Key("verdict-ok", "o", "verdict('ok')", "Mark the label as ok, go to the next row", "Review", "ok"),
    Key("verdict-skip", "s", "verdict('skip')", "Skip the row (decide later), go to the next row", "Review", "skip"),
    Key("verdict-clear", "backspace", "verdict('')", "Clear the row's verdict", "Review"),
    Key("toggle-select", "space", "toggle_select", "Select or unselect the row", "Review", "select"),
    Key("range-select", "v", "range_select", "Range: v, move, then v (select) or x/o/s (verdict)", "Review"),
    Key("select-all", "a", "select_all", "Select every row the filter shows", "Review"),
    Key("clear-selection", "A", "clear_selection", "Unselect every row", "Review"),
    Key("selection-error", "X", "selection_verdict('error')", "Mark every selected row as an error", "Review"),
    Key("selection-ok", "O", "selection_verdict('ok')", "Mark every selected row as ok", "Review"),
    Key("selection-skip", "alt+s", "selection_verdict('skip')", "Skip every selected row", "Review"),
    Key("undo", "u", "undo", "Undo your last change", "Review"),
    Key("note", "n", "note", "Write a note on the row", "Review"),
    Key("focus-filter", "slash", "focus_filter", "Edit the filter (enter applies, escape leaves)", "Filter", "filter"),
    Key("clear-filter", "0", "preset(0)", "Show all rows (clear the filter)", "Filter"),
    Key("preset-1", "1", "preset(1)", "Preset 1 (see the filter bar)", "Filter"),
    Key("preset-2", "2", "preset(2)", "Preset 2", "Filter"),
    Key("preset-3", "3", "preset(3)", "Preset 3", "Filter"),
    Key("preset-4", "4", "preset(4)", "Preset 4: unreviewed rows", "Filter"),
    Key("preset-5", "5", "preset(5)", "Preset 5: rows you marked as errors", "Filter"),
    Key("sort-pick", "S", "pick_sort", "Sort by a column", "Filter"),
    Key("sort-reverse", "r", "reverse_sort", "Flip the sort direction", "Filter"),
    Key("zoom", "z", "zoom", "Zoom to the object (again: whole image)", "Preview"),
    Key("toggle-sources", "t", "toggle_sources", "Show GT and predictions / GT only / predictions only", "Preview"),
    Key("toggle-overlays", "h", "toggle_overlays", "Hide or show all overlays", "Preview"),
    Key("next-object", "tab,right_square_bracket", "cycle_object(1)", "Next object of the row", "Preview"),
    Key("prev-object", "shift+tab,left_square_bracket", "cycle_object(-1)", "Previous object of the row", "Preview"),
    Key("projector", "p", "toggle_projector", "Show the embedding projector and focus it (again: hide it)", "Projector", "projector"),
    Key("gallery", "w", "gallery", "Gallery: the page as small previews (arrows move, enter opens)", "App"),
    Key("summary", "m", "summary", "Summary: per-class TP/FP/FN, confusions, score histogram (enter filters)", "App"),
    Key("export", "e", "export", "Export a batch manifest", "App", "export"),
    Key("help", "question_mark", "help", "Show every key", "App", "help"),
    Key("cancel", "escape", "cancel", "Leave range mode", "App"),
    Key("quit", "q", "app.quit", "Quit (everything is saved)", "App", "quit"),
)

#: Keys of the projector pane while it has focus (the review keys above work there too unless shadowed).
PROJECTOR_KEYS: tuple[Key, ...] = (
    Key("projector-left", "h,left", "step(-1,0)", "Cursor to the nearest point on the left", "Projector pane"),
    Key("projector-down", "j,down", "step(0,1)", "Cursor to the nearest point below", "Projector pane"),
    Key("projector-up", "k,up", "step(0,-1)", "Cursor to the nearest point above", "Projector pane"),
    Key("projector-right", "l,right", "step(1,0)", "Cursor to the nearest point on the right", "Projector pane"),
    Key("projector-pan-left", "H,shift+left", "pan(-1,0)", "Pan left", "Projector pane"),
    Key("projector-pan-down", "J,shift+down", "pan(0,1)", "Pan down", "Projector pane"),
    Key("projector-pan-up", "K,shift+up", "pan(0,-1)", "Pan up", "Projector pane"),
    Key("projector-pan-right", "L,shift+right", "pan(1,0)", "Pan right", "Projector pane"),
    Key("projector-zoom-in", "plus,equals_sign", "zoom(2.0)", "Zoom in around the cursor", "Projector pane", "zoom"),
    Key("projector-zoom-out", "minus,underscore", "zoom(0.5)", "Zoom out", "Projector pane"),
    Key("projector-fit", "f", "fit", "Show every point (reset zoom and pan)", "Projector pane", "fit"),
    Key("projector-color", "c", "cycle_color", "Color by class / score / verdict / kNN disagreement", "Projector pane", "color"),
    Key("projector-suspects", "i", "toggle_suspects", "Emphasise flagged rows on or off", "Projector pane"),
    Key("projector-method", "M", "cycle_method", "Projection method: PCA or UMAP (needs umap-learn)", "Projector pane"),
    Key("projector-region", "v", "anchor", "Region: v anchors, move, enter filters the list to it", "Projector pane", "region"),
    Key("projector-apply", "enter", "apply", "Filter the list to the region (no region: back to the list)", "Projector pane"),
    Key("projector-cancel", "escape", "cancel", "Cancel the region, clear it, or go back to the list", "Projector pane"),
)

KEY_IDS = frozenset(k.id for k in REVIEW_KEYS + PROJECTOR_KEYS)


def effective_keys(keymap: dict[str, str]) -> dict[str, str]:
    """``{binding id: keys}`` after applying the user's remapping."""
    return {k.id: keymap.get(k.id, k.keys) for k in REVIEW_KEYS + PROJECTOR_KEYS}


def unknown_ids(keymap: dict[str, str]) -> list[str]:
    """Ids in a user keymap that name no binding (typos)."""
    return sorted(set(keymap) - KEY_IDS)


_DISPLAY = {
    "slash": "/",
    "question_mark": "?",
    "space": "space",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
    "pagedown": "PgDn",
    "pageup": "PgUp",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "underscore": "_",
}


def display_keys(keys: str) -> str:
    """Human form of a comma-separated key list: ``"j,down"`` -> ``"j ↓"``."""
    arrows = {"down": "↓", "up": "↑", "left": "←", "right": "→"}
    out = []
    for key in keys.split(","):
        key = key.strip()
        out.append(_DISPLAY.get(key) or arrows.get(key) or key)
    return " ".join(out)
