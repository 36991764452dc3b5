"""Classification preview: the given label and the model's top classes as bars."""

from __future__ import annotations

import numpy as np
from rich.console import Group
from rich.text import Text

from labeltui.render.palette import ISSUE_STYLE, VERDICT_STYLES, Palette

_EIGHTHS = " ▏▎▍▌▋▊▉"
GIVEN_MARK = "◆"
PRED_MARK = "▶"
NAME_MAX = 20


def bar(value: float, width: int) -> str:
    """``value`` in [0, 1] as a bar of ``width`` cells in eighth blocks (padded)."""
    v = float(value) if np.isfinite(value) else 0.0
    eighths = int(round(min(max(v, 0.0), 1.0) * width * 8))
    full, rest = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[rest] if rest else "")
    return text.ljust(width)


def _name(classes: list[str], i: int) -> str:
    if i < 0 or i >= len(classes):
        return "(none)"
    name = str(classes[i])
    return name if len(name) <= NAME_MAX else name[: NAME_MAX - 1] + "…"


def render_class_bars(
    classes: list[str],
    probs: np.ndarray | None,
    *,
    given: int,
    predicted: int,
    pred_confidence: float,
    top: int = 5,
    width: int = 30,
) -> Group:
    """A header (given label vs the model's class, ✓/✗) and the model's ``top``
    classes as bars with probabilities; ``◆`` marks the given class (added
    below a ``⋮`` with its rank when it is not in the top), ``▶`` the predicted
    one. ``probs`` (per class, may be None or NaN) falls back to the predicted
    class and ``pred_confidence`` only."""
    palette = Palette.for_classes(classes)
    width = max(4, int(width))
    p = None if probs is None else np.asarray(probs, dtype=np.float64).ravel()
    if p is not None and (p.size != len(classes) or not np.isfinite(p).any()):
        p = None
    agree = given >= 0 and given == predicted
    header = Text.assemble(
        (f"{GIVEN_MARK} given ", "bold"),
        (_name(classes, given), palette.style(given, bold=True) if given >= 0 else "dim"),
        "  ",
        (f"{PRED_MARK} model ", "bold"),
        (_name(classes, predicted), palette.style(predicted, bold=True) if predicted >= 0 else "dim"),
    )
    if np.isfinite(pred_confidence):
        header.append(f" {pred_confidence:.2f}")
    if given >= 0 and predicted >= 0:
        header.append("  ✓ agree" if agree else "  ✗ disagree", VERDICT_STYLES["ok"] if agree else ISSUE_STYLE)
    lines = [header]
    if p is None:
        order = [i for i in dict.fromkeys([predicted, given]) if 0 <= i < len(classes)]
        values = {predicted: pred_confidence}
        name_w = max([len(_name(classes, i)) for i in order] or [1])
        lines.extend(
            _bar_line(classes, palette, i, values.get(i, np.nan), given, predicted, name_w, width) for i in order
        )
        return Group(*lines)
    q = np.where(np.isfinite(p), p, -1.0)
    order = list(np.argsort(-q, kind="stable")[: max(1, int(top))])
    extra = 0 <= given < len(classes) and given not in order
    shown = order + ([given] if extra else [])
    name_w = max(len(_name(classes, int(i))) for i in shown)
    lines.extend(_bar_line(classes, palette, int(i), p[i], given, predicted, name_w, width) for i in order)
    if extra:
        rank = int((q > q[given]).sum()) + 1
        lines.append(Text("  ⋮", "dim"))
        line = _bar_line(classes, palette, given, p[given], given, predicted, name_w, width)
        line.append(f"  #{rank}", "dim")
        lines.append(line)
    return Group(*lines)


def _bar_line(
    classes, palette: Palette, i: int, value: float, given: int, predicted: int, name_w: int, width: int
) -> Text:
    mark = (GIVEN_MARK if i == given else " ") + (PRED_MARK if i == predicted else " ")
    emphasis = i in (given, predicted)
    line = Text(mark + " ", "bold")
    line.append(_name(classes, i).ljust(name_w), "bold" if emphasis else "")
    line.append(" ")
    line.append(bar(value, width), palette.style(i))
    line.append(f" {value:4.2f}" if np.isfinite(value) else "    ?", "bold" if emphasis else "")
    line.no_wrap = True
    return line
