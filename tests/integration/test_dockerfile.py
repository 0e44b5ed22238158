"""The image: its Dockerfile follows the rules a platform team checks, and its own install steps produce a working
`tenantgate` for a non-root user.

There is no container engine here, so the install steps are read from the Dockerfile itself (not restated) and
run in fresh virtual environments, with the paths the image uses (`/src`, `/wheels`) mapped to temporary
directories and the image's `python` to the environment's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [argument for word, argument in self.instructions if word == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the stages, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        word, _, argument = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            parts = argument.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None))
        elif stages:
            stages[-1].instructions.append((word, argument.strip()))
        elif word == "ARG" and "=" in argument:
            key, _, value = argument.partition("=")
            args[key.strip()] = value.strip()
    return args, stages


ARGS, STAGES = parse(DOCKERFILE.read_text())
FINAL = STAGES[-1]


def resolved_base(stage: Stage) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: ARGS.get(m.group(1), m.group(0)), stage.base)


# ---- lint ------------------------------------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name or "final")
def test_every_base_is_pinned_by_tag_or_digest(stage: Stage) -> None:
    base = resolved_base(stage)
    if any(s.name == base for s in STAGES):
        return
    assert "@sha256:" in base or re.search(r":\d+(\.\d+)+", base), f"{base} is not pinned to a version or digest"
    assert not base.endswith(":latest")


@pytest.mark.unit
def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    [user] = FINAL.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)


@pytest.mark.unit
def test_nothing_is_added_from_urls_and_the_final_stage_installs_no_compiler() -> None:
    for stage in STAGES:
        for argument in stage.all("ADD"):
            assert "://" not in argument, f"ADD of a URL: {argument}"
    for command in FINAL.all("RUN"):
        assert not re.search(r"\b(gcc|g\+\+|build-essential|make|apt-get install)\b", command), command
        assert "--no-index" in command, "the final stage installs only the wheels built before it"


@pytest.mark.unit
def test_the_entrypoint_is_tenantgate_and_the_image_is_labelled() -> None:
    assert FINAL.all("ENTRYPOINT") == ['["tenantgate"]']
    labels = " ".join(FINAL.all("LABEL"))
    for key in ("title", "description", "licenses", "version", "revision", "created"):
        assert f"org.opencontainers.image.{key}=" in labels
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert f'org.opencontainers.image.version="{version}"' in labels
    env = " ".join(FINAL.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "no .pyc written at run time: the root filesystem is read-only"


@pytest.mark.unit
def test_every_package_of_the_distribution_is_copied_into_the_build() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {argument.split()[0].rstrip("/") for argument in STAGES[0].all("COPY")}
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


# ---- the install steps -----------------------------------------------------------------------------------


SYSTEM_PYTHON = Path("/usr/bin/python3")
"""An interpreter outside any user's home, as the image's is, so the non-root user can run it."""


def _environment(directory: Path) -> Path:
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--clear", str(directory)], check=True, timeout=300)
    return directory / "bin" / "python"


def _run_steps(stage: Stage, python: Path, paths: dict[str, Path]) -> None:
    for command in stage.all("RUN"):
        for image_path, local in paths.items():
            command = re.sub(rf"(?<![\w/]){re.escape(image_path)}(?![\w])", str(local), command)
        command = re.sub(r"(^|&&\s*|;\s*)python\b", lambda m: m.group(1) + shlex.quote(str(python)), command)
        subprocess.run(["sh", "-ec", command], check=True, capture_output=True, text=True, timeout=900)


@pytest.mark.integration
@pytest.mark.timeout(1200)
def test_the_dockerfiles_install_steps_give_a_working_tenantgate_for_a_non_root_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to the image's non-root user needs root")
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"no system interpreter at {SYSTEM_PYTHON}")
    tmp_path = Path(tempfile.mkdtemp(prefix="tenantgate-image-"))
    tmp_path.chmod(0o755)  # the image's files are readable by its non-root user
    try:
        _build_and_run(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _build_and_run(tmp_path: Path) -> None:
    src, wheels = tmp_path / "src", tmp_path / "wheels"
    src.mkdir()
    for argument in STAGES[0].all("COPY"):
        *sources, destination = argument.split()
        target = src / destination.removeprefix("./").rstrip("/")
        for source in sources:
            origin = REPO / source.rstrip("/")
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
    _run_steps(STAGES[0], _environment(tmp_path / "build-env"), {"/src": src, "/wheels": wheels})
    image_python = _environment(tmp_path / "image-env")
    _run_steps(FINAL, image_python, {"/wheels": wheels})
    assert not wheels.exists(), "the final stage removes the wheels it installed"
    user = FINAL.all("USER")[0]
    uid, _, gid = user.partition(":")
    env = {"PATH": f"{image_python.parent}:/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid or uid}", "--clear-groups"]
    tenantgate = str(image_python.parent / "tenantgate")
    version = subprocess.run([*as_user, tenantgate, "--version"], env=env, capture_output=True, text=True, check=True)
    expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert version.stdout.strip() == f"tenantgate {expected}"
    helped = subprocess.run([*as_user, tenantgate, "webhook", "--help"], env=env, capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr
    assert "--cert-dir" in helped.stdout
    examples = tmp_path / "examples"  # the whole engine: models, rules, dispatch
    shutil.copytree(REPO / "deploy" / "examples", examples)
    reviewed = subprocess.run(
        [*as_user, tenantgate, "review", "-f", str(examples)], env=env, capture_output=True, text=True
    )
    assert reviewed.returncode == 1, reviewed.stderr  # the examples include one denied App
    assert "13 object(s) reviewed, 1 denied" in reviewed.stdout
