"""The labeltui Textual app: loads the run in a worker, then the review screen."""

from __future__ import annotations

import asyncio
import signal
import time
import traceback
from pathlib import Path
from typing import Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from labeltui.config import Config, load_config
from labeltui.errors import LoadError
from labeltui.pipeline import Scored
from labeltui.tui.keys import REVIEW_KEYS, display_keys, effective_keys, unknown_ids
from labeltui.tui.screens.loading import LoadingScreen
from labeltui.tui.screens.review import ReviewScreen
from labeltui.tui.session import Session

PROGRESS_INTERVAL = 0.05  # seconds between progress messages from the loader


class LoadProgress(Message):
    def __init__(self, message: str, fraction: float) -> None:
        self.message = message
        self.fraction = fraction
        super().__init__()


class Loaded(Message):
    def __init__(self, session: Session, cursor: int | None, warning: str | None) -> None:
        self.session = session
        self.cursor = cursor
        self.warning = warning
        super().__init__()


class LoadFailed(Message):
    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__()


class LabelTuiApp(App):
    """Review a model run's suspected label mistakes.

    Give a config path (loaded, scored and opened in a worker, with progress),
    or a loaded ``config`` and optionally an already ``scored`` run (tests,
    benchmarks). ``reviewer`` overrides the config's.
    """

    CSS_PATH = "app.tcss"
    TITLE = "labeltui"
    ENABLE_COMMAND_PALETTE = True
    # Ctrl-C quits like q (text fields keep it for copy); SIGTERM quits the same way.
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False)]

    def __init__(
        self,
        config_path: str | Path | None = None,
        *,
        config: Config | None = None,
        scored: Scored | None = None,
        reviewer: str | None = None,
        use_cache: bool = True,
        demos: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.demos = demos
        self.next_demo: str | None = None
        if config_path is None and config is None:
            raise ValueError("give a config path or a config")
        self.config_path = Path(config_path) if config_path is not None else None
        self.config = config
        self.scored = scored
        self.reviewer = reviewer
        self.use_cache = use_cache
        self.session: Session | None = None
        self.load_error: str | None = None

    def on_mount(self) -> None:
        if len(self.demos) > 1:
            self.bind("d", "next_demo", description="next demo")
        source = str(self.config_path) if self.config_path else (self.config.name if self.config else "")
        self.push_screen(LoadingScreen(source))
        self.load()
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._terminated)
        except (NotImplementedError, RuntimeError, ValueError):  # no signals here (Windows, not the main thread)
            pass

    def _terminated(self) -> None:
        """SIGTERM: save the position and exit cleanly (terminal restored, store closed), status 143."""
        if isinstance(self.screen, ReviewScreen):
            self.screen.save_now()
        self.exit(return_code=128 + signal.SIGTERM)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self) -> None:
        """Read config, run, scores and the review store off the UI thread."""
        last = [0.0, ""]

        def progress(message: str, fraction: float) -> None:
            now = time.monotonic()
            if message != last[1] or now - last[0] >= PROGRESS_INTERVAL:
                last[0], last[1] = now, message
                self.post_message(LoadProgress(message, fraction))

        try:
            config = self.config or load_config(self.config_path)
            self.config = config
            scored = self.scored
            if scored is None:
                from labeltui.pipeline import scores_for

                scored = scores_for(config, progress, use_cache=self.use_cache, need_run=True)
            progress("opening the review store", 0.99)
            from labeltui.review import ReviewStore

            store = ReviewStore.open(config.review_store, run_name=config.name, reviewer=self.reviewer or config.reviewer)
            session = Session(config, scored, store)
            cursor, warning = session.restore_state()
        except LoadError as err:
            self.post_message(LoadFailed(str(err)))
            return
        except Exception as err:  # a bug, not bad input: say so in the app, keep the traceback in the log
            self.log.error(traceback.format_exc())
            self.post_message(LoadFailed(f"unexpected error ({type(err).__name__}: {err}); please report it"))
            return
        self.post_message(Loaded(session, cursor, warning))

    def on_load_progress(self, message: LoadProgress) -> None:
        if isinstance(self.screen, LoadingScreen):
            self.screen.progress(message.message, message.fraction)

    def on_load_failed(self, message: LoadFailed) -> None:
        self.load_error = message.error
        if isinstance(self.screen, LoadingScreen):
            self.screen.failed(message.error)

    def on_loaded(self, message: Loaded) -> None:
        self.session = message.session
        keymap = dict(self.config.keys) if self.config else {}
        self.set_keymap(keymap)
        self.switch_screen(ReviewScreen(message.session, message.cursor))
        for name in unknown_ids(keymap):
            self.notify(f"keys.{name}: no such binding id (see ? for the ids)", severity="warning", timeout=8)
        if message.warning:
            self.notify(message.warning, severity="warning", timeout=8)
        if len(self.demos) > 1:
            others = [t for t in self.demos if t != message.session.config.task]
            self.notify(f"demo: press d for the {others[0]} demo ({' and '.join(others)} in the palette, ctrl+p)", timeout=6)
        if message.session.read_only and message.session.store is not None:
            self.notify(message.session.store.read_only_reason, title="review store is read-only", severity="warning")

    async def action_next_demo(self, task: str | None = None) -> None:
        """Demo mode: close this demo and open the next one (``labeltui demo`` reopens the app on it)."""
        if len(self.demos) < 2:
            return
        if isinstance(self.screen, ReviewScreen):
            self.screen.save_now()
        current = self.config.task if self.config else self.demos[0]
        following = self.demos[(self.demos.index(current) + 1) % len(self.demos)] if current in self.demos else self.demos[0]
        self.next_demo = task or following
        self.exit(return_code=0)

    async def action_quit(self) -> None:
        if isinstance(self.screen, ReviewScreen):
            self.screen.save_now()
        self.exit(return_code=1 if self.load_error else 0)

    def on_unmount(self) -> None:
        try:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        if self.session is not None and self.session.store is not None:
            self.session.store.close()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every review action by name, with its key."""
        yield from super().get_system_commands(screen)
        for task in self.demos:
            if self.config is None or task != self.config.task:
                yield SystemCommand(f"Open the {task} demo", "closes this demo run", _app_runner(self, f"next_demo({task!r})"))
        if not isinstance(screen, ReviewScreen):
            return
        keys = effective_keys(dict(self.config.keys) if self.config else {})
        for key in REVIEW_KEYS:
            if key.id in ("cancel", "quit"):
                continue
            yield SystemCommand(
                f"{key.description} ({display_keys(keys[key.id])})",
                f"{key.group} · {key.id}",
                _runner(screen, key.action),
            )


def _runner(screen: Screen, action: str):
    async def run() -> None:
        await screen.run_action(action)

    return run


def _app_runner(app: App, action: str):
    async def run() -> None:
        await app.run_action(action)

    return run
