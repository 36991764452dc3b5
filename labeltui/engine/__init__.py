"""Pure computation on a ModelRun: matching, metrics, issues, score, query.

No UI and no I/O here. The shared contract between the modules:

* Object outcomes (``detection.match_objects`` for boxes, ``spans.match_spans``
  for NER) are one DataFrame aligned to ``run.annotations`` (same length and
  order, RangeIndex) with columns:

  - ``outcome``: ``"tp"``, ``"fp"``, ``"fn"``, or ``"low"`` for a prediction
    below ``matching.confidence_threshold`` (not counted as TP/FP, but it still
    counts as support for a ground-truth object);
  - ``partner``: position (in ``run.annotations``) of the matched object, -1;
  - ``iou``: overlap with the partner (IoU for boxes, character IoU for
    spans), NaN when unmatched;
  - ``best_partner`` / ``best_iou``: the most-overlapping object of the other
    source, any class (-1 / 0.0 when none);
  - ``issue``: the object's issue type (see ``ISSUE_TYPES``) or ``""``;
  - ``suspicion``: float in [0, 1], how likely this object reveals a label
    mistake (0 for objects with no issue).
  - detection also gives ``issue_partner``: the ground-truth box a
    ``wrong_class`` / ``bad_location`` prediction disputes, -1 otherwise.

* Per-row scores (``score.score_run``) are one DataFrame aligned to
  ``run.rows`` with ``data_row_id``, ``score`` (in [0, 1]), ``issue`` (the
  row's dominant issue type or ``""``), ``issue_object`` (annotation position
  of the object that triggered it, -1), then the metrics and custom metrics.
  The row score combines object suspicions with a noisy-OR,
  ``1 - prod(1 - s_i)``, so it stays in [0, 1] and grows with independent
  evidence; embedding-neighbour disagreement joins the same way, weighted.
"""

ISSUE_TYPES: dict[str, tuple[str, ...]] = {
    "detection": ("missing_label", "wrong_class", "bad_location", "spurious_label"),
    "ner": ("missing_entity", "spurious_entity", "wrong_type", "boundary"),
    "classification": ("wrong_label", "ambiguous"),
}
