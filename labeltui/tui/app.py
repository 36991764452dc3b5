"""The labeltui Textual app: loads the run in a worker, then the review screen."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import pandas as pd
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.worker import get_current_worker

from labeltui.config import Config, load_config
from labeltui.errors import LoadError
from labeltui.pipeline import Scored
from labeltui.run import ModelRun
from labeltui.tui.keys import REVIEW_KEYS, display_keys, effective_keys, unknown_ids
from labeltui.tui.screens.gallery import GalleryScreen
from labeltui.tui.screens.loading import LoadingScreen
from labeltui.tui.screens.review import ReviewScreen
from labeltui.tui.session import Session

PROGRESS_INTERVAL = 0.05  # seconds between progress messages from the loader
T = TypeVar("T")
_QUIT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
EXIT_GRACE = 3.0  # seconds a signalled exit may take after the store is closed


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


class IdsLoaded(Message):
    """The background read of a scores folder's ids (and the store's verdicts located by them) finished."""

    def __init__(self, located: tuple | None, error: str | None) -> None:
        self.located = located
        self.error = error
        super().__init__()


class RunLoaded(Message):
    """The background read of the model run finished (``error``: why it failed)."""

    def __init__(self, run: ModelRun | None, objects: pd.DataFrame | None, error: str | None) -> None:
        self.run = run
        self.objects = objects
        self.error = error
        super().__init__()


def _unless_quitting(read: Callable[[], T]) -> T | None:
    """``read()`` on a daemon thread, waited for by the calling thread worker; None once
    the worker is cancelled (the app is quitting): quitting never waits for a long
    read, which is dropped with the process."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = read()
        except BaseException as exc:  # re-raised in the worker
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name="labeltui-load").start()
    worker = get_current_worker()
    while not done.wait(0.05):
        if worker.is_cancelled:
            return None
    if "error" in box:
        raise box["error"]
    return box["value"]


class LabelTuiApp(App):
    """Review a model run's suspected label mistakes.

    Give a config path (loaded, scored and opened in a worker, with progress)
    or a scores folder (``labeltui score -o``), or a loaded ``config`` and
    optionally an already ``scored`` run (tests, benchmarks). ``reviewer``
    overrides the config's.

    The list opens from the scores alone when they are cached; the model run
    (annotations for previews) is then read by a background worker, and
    previews say "loading annotations…" until it arrives.
    """

    CSS_PATH = "app.tcss"
    TITLE = "labeltui"
    ENABLE_COMMAND_PALETTE = True
    # Ctrl-C quits like q (text fields keep it for copy); SIGTERM and SIGHUP (terminal closed) quit the same way.
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
        self._unmounted = threading.Event()  # set once the store is closed on the way out

    def on_mount(self) -> None:
        if len(self.demos) > 1:
            self.bind("d", "next_demo", description="next demo")
        source = str(self.config_path) if self.config_path else (self.config.name if self.config else "")
        self.push_screen(LoadingScreen(source))
        self.load()
        try:
            for sig in _QUIT_SIGNALS:
                asyncio.get_running_loop().add_signal_handler(sig, self._terminated, sig)
        except (NotImplementedError, RuntimeError, ValueError):  # no signals here (Windows, not the main thread)
            pass

    def _terminated(self, sig: int) -> None:
        """SIGTERM or SIGHUP: save the position and exit cleanly (terminal restored, store closed), status 128 + sig.

        After a hang-up Textual's output thread can stall on the dead terminal
        (5 of 58 tries never finished): once the store is closed, the
        process ends anyway after ``EXIT_GRACE`` seconds.
        """
        if isinstance(self.screen, ReviewScreen):
            self.screen.save_now()
        if not self.is_headless:  # a real terminal, and this process exits with the app
            threading.Thread(target=self._exit_after_unmount, args=(128 + sig,), daemon=True).start()
        self.exit(return_code=128 + sig)

    def _exit_after_unmount(self, status: int) -> None:
        self._unmounted.wait()
        time.sleep(EXIT_GRACE)
        os._exit(status)  # only reached when the normal exit stalled after the store was closed

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self) -> None:
        """Read config, run, scores and the review store off the UI thread."""
        last = [0.0, ""]

        def progress(message: str, fraction: float) -> None:
            now = time.monotonic()
            if message != last[1] or now - last[0] >= PROGRESS_INTERVAL:
                last[0], last[1] = now, message
                self.post_message(LoadProgress(message, fraction))

        def read() -> tuple[Session, int | None, str | None]:
            from labeltui.scores_dir import is_scores_dir

            scored = self.scored
            if self.config is None and self.config_path is not None and is_scores_dir(self.config_path):
                from labeltui.pipeline import open_scores_dir

                self.config, scored = open_scores_dir(self.config_path, progress)
            config = self.config or load_config(self.config_path)
            self.config = config
            if scored is None:
                from labeltui.pipeline import scores_for

                scored = scores_for(config, progress, use_cache=self.use_cache, defer_run=True)
            progress("opening the review store", 0.99)
            from labeltui.review import ReviewStore

            store = ReviewStore.open(config.review_store, run_name=config.name, reviewer=self.reviewer or config.reviewer)
            session = Session(config, scored, store)
            return (session, *session.restore_state())

        opened = self._read_off_thread(read, LoadFailed)
        if opened is not None:
            self.post_message(Loaded(*opened))

    def _read_off_thread(self, read: Callable[[], T], failed: Callable[[str], Message]) -> T | None:
        """``read()`` in a thread worker (see ``_unless_quitting``). Bad input (a LoadError)
        or a bug is posted as ``failed(reason)``, the traceback of a bug kept in the log,
        and gives None, as quitting does: the app says why and keeps going."""
        try:
            return _unless_quitting(read)
        except LoadError as err:
            self.post_message(failed(str(err)))
        except Exception as err:  # a bug, not bad input: say so in the app, keep the traceback in the log
            self.log.error(traceback.format_exc())
            self.post_message(failed(f"unexpected error ({type(err).__name__}: {err}); please report it"))
        return None

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def load_run(self) -> None:
        """Read the model run (and the objects table) after the list is up."""
        session = self.session
        if session is None or session.rest is None:
            return
        rest = session.rest
        loaded = self._read_off_thread(lambda: rest(None), lambda error: RunLoaded(None, None, error))
        if loaded is not None:
            self.post_message(RunLoaded(*loaded, None))

    @work(thread=True, exclusive=True, group="ids", exit_on_error=False)
    def load_ids(self) -> None:
        """A scores folder: read every data row id after the first frame, then place the store's verdicts."""
        session = self.session
        if session is None:
            return
        # (in a tuple: load_reviews gives None when no verdict waits)
        read = self._read_off_thread(lambda: (session.load_reviews(),), lambda error: IdsLoaded(None, error))
        if read is not None:
            self.post_message(IdsLoaded(read[0], None))

    def on_ids_loaded(self, message: IdsLoaded) -> None:
        session = self.session
        if session is None:
            return
        if message.error:
            self.notify(message.error, title="ids not read", severity="error", timeout=10)
        session.apply_reviews(message.located)
        for screen in self.screen_stack:
            if isinstance(screen, ReviewScreen):
                screen.ids_arrived()

    def on_run_loaded(self, message: RunLoaded) -> None:
        session = self.session
        if session is None:
            return
        if message.run is not None:
            session.attach_run(message.run, message.objects)
        else:
            session.run_failed(f"no previews: the model run could not be read ({message.error})")
            self.notify(message.error or "", title="model run not loaded", severity="error", timeout=10)
        for screen in self.screen_stack:
            if isinstance(screen, (ReviewScreen, GalleryScreen)):
                screen.run_arrived()

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
        if message.session.run_pending:
            self.load_run()
        if message.session.source is not None:
            self.load_ids()
        for warning in message.session.warnings:
            self.notify(warning, severity="warning", timeout=10)
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
            for sig in _QUIT_SIGNALS:
                asyncio.get_running_loop().remove_signal_handler(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        if self.session is not None and self.session.store is not None:
            self.session.store.close()
        self._unmounted.set()

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
