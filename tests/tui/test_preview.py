"""The detail pane's previews and their keys on the three demo runs."""

from __future__ import annotations

import dataclasses
import os

from labeltui.render import image as rimg
from labeltui.tui import LabelTuiApp
from labeltui.tui.previews import SOURCES, asset_of
from labeltui.tui.widgets.detail import WARM_AHEAD
from tests.tui.conftest import drive, preview_text, scored_demo, settle, widget_text


def test_image_preview_keys(make_app):
    app = make_app("detection")

    async def script(pilot, screen):
        detail = screen.detail
        assert detail.preview.shown_key is not None and not detail.preview.stale
        text = preview_text(screen)
        assert "▀" in text and "★" in text  # half-block pixels and the emphasised issue object
        first_key = detail.preview.shown_key
        focus = detail.focus
        assert focus >= 0 and detail.boxes["issue"].iat[focus] != ""
        await pilot.press("z")
        await settle(pilot)
        assert detail.zoom and detail.preview.shown_key != first_key
        await pilot.press("z")
        await settle(pilot)
        assert not detail.zoom and detail.preview.shown_key == first_key
        seen = []
        for _ in SOURCES:
            await pilot.press("t")
            seen.append(detail.sources)
        assert seen == ["gt", "pred", "both"]
        await pilot.press("t")
        await settle(pilot)
        assert "pred hidden" in preview_text(screen)
        await pilot.press("t", "t", "h")
        await settle(pilot)
        assert not detail.overlays and "★" not in preview_text(screen)
        await pilot.press("h")
        assert detail.overlays
        order = detail.order
        await pilot.press("tab")
        assert detail.focus == order[1]
        await pilot.press("right_square_bracket")
        assert detail.focus == order[2]
        await pilot.press("left_square_bracket", "shift+tab")
        assert detail.focus == order[0]
        await settle(pilot)
        assert "★" in widget_text(screen.query_one("#row-info"))
        view = screen.session.view
        detail.show_row(int(view[1]), [])
        assert detail.preview.stale and "▀" not in preview_text(screen)  # no old picture under new facts
        await settle(pilot)
        assert not detail.preview.stale and detail.preview.shown_key[0] == view[1]

    drive(app, script, size=(120, 40))


def test_missing_image_shows_a_placeholder_and_the_list_keeps_working(make_app, tmp_path):
    config, scored = scored_demo("detection")
    top = int(scored.scores["score"].idxmax())
    rows = scored.run.rows.copy()
    rows.loc[top, "asset"] = str(tmp_path / "gone.jpg")
    broken = dataclasses.replace(scored, run=dataclasses.replace(scored.run, rows=rows))
    app = make_app("detection")
    app.scored = broken

    async def script(pilot, screen):
        assert screen.session.view[0] == top
        assert "image not found" in preview_text(screen)
        await pilot.press("x", "k")
        await settle(pilot)
        assert screen.session.counts()["error"] == 1
        assert "image not found" in preview_text(screen)

    drive(app, script)


def test_ner_preview_shows_spans_around_the_disagreement(make_app):
    app = make_app("ner")

    async def script(pilot, screen):
        s = screen.session
        pos = int(s.view[0])
        text = preview_text(screen)
        sentence = str(s.run.rows["asset"].iat[pos])
        assert sentence.split()[0] in text
        assert "gt" in text and "pred" in text and "★" in text
        issue = str(s.scores["issue"].iat[pos])
        assert issue in text

    drive(app, script, size=(120, 40))


def test_classification_preview_shows_class_bars(make_app):
    app = make_app("classification")

    async def script(pilot, screen):
        s = screen.session
        pos = int(s.view[0])
        text = preview_text(screen)
        given = s.run.classes[s.run.gt_label[pos]]
        predicted = s.run.classes[s.run.pred_label[pos]]
        assert "given" in text and given in text and predicted in text
        assert "█" in text  # probability bars
        assert "disagree" in text

    drive(app, script, size=(120, 40))


def test_gallery_scans_a_page_and_judges_rows(make_app):
    from labeltui.tui.screens.gallery import GalleryScreen, Tile

    app = make_app("detection")

    async def script(pilot, screen):
        s = screen.session
        await pilot.press("w")
        await settle(pilot)
        gallery = app.screen
        assert isinstance(gallery, GalleryScreen)
        tiles = list(gallery.query(Tile))
        assert len(tiles) == gallery.per_page >= 6
        assert [t.pos for t in tiles] == s.view[: len(tiles)].tolist()
        await app.workers.wait_for_complete()
        await pilot.pause(0.05)
        assert all("▀" in widget_text(t.query_one("Preview")) for t in tiles)  # thumbnails, zoomed to the issue
        await pilot.press("right", "down")
        assert gallery.cursor == 1 + gallery.columns and tiles[gallery.cursor].has_class("-cursor")
        marked = 1 + gallery.columns
        await pilot.press("x")
        assert s.verdict_of(int(s.view[marked])) == "error" and gallery.cursor == marked + 1
        assert "✗" in widget_text(tiles[marked].query_one(".caption"))
        await pilot.press("pagedown")
        assert gallery.page_start == gallery.per_page and tiles[0].pos == s.view[gallery.per_page]
        await pilot.press("pageup", "enter")
        assert app.screen is screen and screen.suspects.cursor == marked + 1
        assert "✗" in screen.suspects.render_line(marked + 1).text  # line 0 is the header
        assert s.counts()["error"] == 1

    drive(app, script, size=(100, 30))


def test_rows_ahead_of_the_cursor_open_from_the_preview_store(tmp_path, monkeypatch):
    monkeypatch.setattr(rimg, "MIN_SOURCE_PIXELS", 1)  # the demo photos are small: have the store keep them
    config, scored = scored_demo("detection")
    config = dataclasses.replace(
        config, review_store=tmp_path / "review.sqlite", export_dir=tmp_path / "batches", cache_dir=tmp_path / "cache"
    )
    app = LabelTuiApp(config=config, scored=scored, reviewer="tester")

    def stored(screen, rows) -> list[bool]:
        store = screen.detail.cache.store
        store.flush()
        paths = [asset_of(screen.session, int(p)) for p in rows]
        return [store.has(p, os.stat(p)) for p in paths]

    async def script(pilot, screen):
        warmer, view = screen.detail.warmer, screen.session.view
        assert warmer.idle(30)
        assert all(stored(screen, view[1 : 1 + WARM_AHEAD]))
        assert not any(stored(screen, view[1 + WARM_AHEAD :]))  # only the rows ahead
        assert os.getpriority(os.PRIO_PROCESS, warmer._thread.native_id) == 19  # after what is on screen
        decoded = warmer.decoded
        await pilot.press(*"j" * 10)
        await settle(pilot)
        assert warmer.idle(30)
        assert all(stored(screen, view[1 : 11 + WARM_AHEAD])) and warmer.decoded == decoded + 10
        assert not any(stored(screen, view[11 + WARM_AHEAD :]))

    drive(app, script, size=(120, 40))
