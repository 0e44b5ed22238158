"""`tenantgate dev` reports a platform process that died: the end of its log, and the logs kept for reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tenantgate import dev
from tenantgate.devcluster.platform import _Service

pytestmark = pytest.mark.unit


class _Plane:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.kept = False

    def keep_state_on_stop(self) -> None:
        self.kept = True


class _Platform:
    def __init__(self, dead: list[_Service]) -> None:
        self.dead = dead

    def exited(self) -> list[_Service]:
        return self.dead


def test_a_dead_controller_is_named_with_its_last_log_lines_and_the_logs_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "controller.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)) + "OSError: [Errno 98] address already in use\n")
    plane = _Plane(tmp_path)
    dead: Any = _Platform([_Service("controller", ["x"], log, {})])
    dev._report_exits(dead, plane)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "the controller exited" in out
    assert "address already in use" in out
    assert "line 10\n" not in out, "only the end of the log"
    assert plane.kept
    assert f"logs kept in {tmp_path}" in out
