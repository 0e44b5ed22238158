"""What every benchmark report carries: a markdown table, the machine it ran on, and its own section of the doc.

A figure means little without the load on the machine when it was taken and the versions that produced it, so
every `python -m bench` sub-command writes them next to its table, in a section of docs/performance.md that it
replaces on the next run (other sections are kept).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "performance.md"
DOC_HEADER = "# Performance\n\nMeasured results of the benchmarks in `bench/`; each section says how to reproduce it.\n"


@dataclass
class Table:
    """A markdown table: headers, then rows of cells already formatted; `right` columns are numbers."""

    headers: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    right: frozenset[int] = frozenset()

    def markdown(self) -> str:
        align = ["---:" if index in self.right else "---" for index in range(len(self.headers))]
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "|".join(align) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def commit() -> str:
    git = ["git", "-C", str(REPO_ROOT)]
    found = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    described = found.stdout.strip() or "unknown"
    if subprocess.run([*git, "diff", "--quiet", "HEAD", "--"], capture_output=True, check=False).returncode == 1:
        described += " with uncommitted changes"
    return described


def kubernetes_version() -> str:
    """The pinned version of the local control plane's binaries (the cache is built from exactly that)."""
    from tenantgate.devcluster.build import KUBERNETES_VERSION

    return KUBERNETES_VERSION


def machine_line() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:", 1)[1].split()[0])
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    return f"{cpu}, {os.cpu_count()} cores{memory}, Linux {platform.release()}"


def versions_line(kubernetes: bool) -> str:
    parts = [
        f"tenantgate commit {commit()}",
        f"Python {platform.python_version()}",
        f"aiohttp {package_version('aiohttp')}",
        f"pydantic {package_version('pydantic')}",
    ]
    if kubernetes:
        parts += [f"kubernetes client {package_version('kubernetes')}", f"Kubernetes {kubernetes_version()}"]
    return ", ".join(parts)


def render(
    title: str,
    command: str,
    tables: Sequence[Table],
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    *,
    kubernetes: bool = False,
    notes: str = "",
    elapsed: float | None = None,
) -> str:
    """The section: when, the command, the machine and load, the versions, the tables, then any notes."""
    before, after = loads
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    took = f" The run took {elapsed:.0f} s." if elapsed is not None else ""
    lines = [
        f"## {title}",
        "",
        f"Measured {now} with:",
        "",
        "```sh",
        command,
        "```",
        "",
        f"Machine: {machine_line()}. Load average (1, 5, 15 min) {before[0]:.2f} {before[1]:.2f} {before[2]:.2f} "
        f"before the run and {after[0]:.2f} {after[1]:.2f} {after[2]:.2f} after it.{took} "
        f"Versions: {versions_line(kubernetes)}.",
    ]
    for table in tables:
        lines += ["", table.markdown()]
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def write_section(title: str, text: str, doc: Path = DOC) -> None:
    """Replace (or append) the `## {title}` section of the doc, keeping every other section as it is."""
    current = doc.read_text() if doc.exists() else DOC_HEADER
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip() + "\n\n", current, count=1).rstrip() + "\n"
    else:
        updated = current.rstrip() + "\n\n" + text.rstrip() + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(updated)


def publish(
    title: str,
    command: str,
    tables: Sequence[Table],
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    *,
    write: bool,
    kubernetes: bool = False,
    notes: str = "",
    elapsed: float | None = None,
) -> str:
    """Render the section, print it, and (with `write`) put it into docs/performance.md; the text."""
    text = render(title, command, tables, loads, kubernetes=kubernetes, notes=notes, elapsed=elapsed)
    print(text)
    if write:
        write_section(title, text)
        print(f"wrote section '{title}' of docs/performance.md")
    return text
