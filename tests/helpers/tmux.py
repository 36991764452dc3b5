"""The real ``labeltui open`` in a detached tmux session of its own server, for tests that drive it as a user."""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo"
_SOCKETS = itertools.count()
# terminal modes as the shell had them: main screen, cursor shown, no mouse reporting
RESTORED = {"alternate_on": "0", "cursor_flag": "1", "mouse_any_flag": "0", "mouse_button_flag": "0", "mouse_sgr_flag": "0"}


def copy_demo(folder: Path, task: str) -> Path:
    """A copy of a demo run in ``folder`` (not a review store someone left in it); its config."""
    shutil.copytree(DEMO / task, folder / task, ignore=shutil.ignore_patterns("labeltui-review.sqlite*"))
    return folder / task / "run.yaml"


class Pane:
    """``labeltui open config`` in a detached tmux pane (80x24 unless told); ``record`` keeps every byte the app
    writes; ``env`` sets variables for the app (None: unset)."""

    def __init__(
        self,
        folder: Path,
        config: Path,
        *options: str,
        size: tuple[int, int] = (80, 24),
        record: Path | None = None,
        env: dict[str, str | None] | None = None,
    ) -> None:
        self.socket = f"labeltui-test-{os.getpid()}-{next(_SOCKETS)}"
        self.rc = folder / "exit-status"
        app = shlex.join([sys.executable, "-m", "labeltui.cli", "open", *options, str(config)])
        # the pane outlives the app so its terminal modes can be inspected afterwards
        command = f"{app}; echo $? > {shlex.quote(str(self.rc))}; sleep 600"
        if record is not None:
            # the shell waits for the pipe to be in place before starting the app, so the first frame is kept too
            ready = folder / "pipe-ready"
            command = f"while [ ! -e {shlex.quote(str(ready))} ]; do sleep 0.02; done; {command}"
        variables = {"LABELTUI_REVIEWER": "ana", "NO_COLOR": None, **(env or {})}
        setup = "".join(f"export {k}={shlex.quote(v)}; " if v is not None else f"unset {k}; " for k, v in variables.items())
        command = setup + command
        width, height = size
        new = ["new-session", "-d", "-x", str(width), "-y", str(height), "-c", str(ROOT), command]
        subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *new], check=True)
        if record is not None:
            record.touch()
            self.tmux("pipe-pane", "-o", f"cat >> {shlex.quote(str(record))}")
            ready.touch()

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared; the pane shows:\n{self.screen()}")

    def app_pid(self) -> int:
        shell = int(self.tmux("display", "-p", "#{pane_pid}").strip())
        children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def exit_status(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rc.exists() and self.rc.read_text().strip():
                return int(self.rc.read_text())
            time.sleep(0.05)
        raise AssertionError(f"the app did not exit; the pane shows:\n{self.screen()}")

    def modes(self) -> dict[str, str]:
        """Terminal modes the app may have changed: alternate screen, cursor, mouse reporting."""
        names = ("alternate_on", "cursor_flag", "mouse_any_flag", "mouse_button_flag", "mouse_sgr_flag")
        values = self.tmux("display", "-p", " ".join(f"#{{{n}}}" for n in names)).split()
        return dict(zip(names, values))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
