"""Pure renderers from a row to Rich renderables (no Textual, no engine state).

- ``image``: decode an image in a worker (``decode_image``), draw GT / predicted
  box outlines into its pixels and show it with half-cell blocks
  (``render_image``), or a ``placeholder`` when it cannot be shown.
- ``spans``: NER text with GT and predicted spans, issue marks and a legend.
- ``bars``: a classification row's given label and the model's top classes.
- ``scatter``: the embedding projection as a braille raster.
- ``palette``: colors per class and source, verdict and issue marks.
"""

from labeltui.render.bars import render_class_bars
from labeltui.render.image import (
    BoxTable,
    DecodedImage,
    PreviewError,
    compose_image,
    decode_image,
    draw_boxes,
    placeholder,
    render_image,
)
from labeltui.render.palette import Palette
from labeltui.render.scatter import Raster, data_bounds, rasterize, rasterize_values, render_scatter
from labeltui.render.spans import render_spans, window_around

__all__ = [
    "BoxTable",
    "DecodedImage",
    "Palette",
    "PreviewError",
    "Raster",
    "compose_image",
    "data_bounds",
    "decode_image",
    "draw_boxes",
    "placeholder",
    "rasterize",
    "rasterize_values",
    "render_class_bars",
    "render_image",
    "render_scatter",
    "render_spans",
    "window_around",
]
