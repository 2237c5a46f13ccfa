"""Fixtures of the chart tests: the helm binaries, the chart copies and every scenario rendered.

Each ci/<scenario>-values.yaml is rendered once per session with Helm 3 and Helm 4 (in
parallel); the tests then read the rendered manifests.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from . import helm


@pytest.fixture(scope="session")
def helms() -> dict[str, Path]:
    """The helm binaries by major version; `make helm` installs them."""
    found = {major: helm.helm_binary(major) for major in helm.HELM_VERSIONS}
    missing = [str(path) for path in found.values() if not path.is_file()]
    if missing:
        pytest.fail(f"helm not found at {', '.join(missing)}: run `make helm` (or `make test`)")
    return found


@pytest.fixture(scope="session")
def charts(helms: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> helm.ChartCopies:
    return helm.make_copies(tmp_path_factory.mktemp("charts"))


@pytest.fixture(scope="session")
def rendered(charts: helm.ChartCopies) -> dict[tuple[str, str], str]:
    """Every scenario rendered with every helm: (scenario, major) -> manifests."""
    jobs = [(scenario, major) for scenario in helm.SCENARIOS for major in helm.HELM_VERSIONS]

    def render(job: tuple[str, str]) -> str:
        scenario, major = job
        result = helm.template(
            major,
            charts.for_scenario(scenario),
            charts.home,
            values=[helm.scenario_file(scenario)],
            check=False,
        )
        if result.returncode != 0:
            return f"RENDER FAILED\n{result.stderr}"
        return result.stdout

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(jobs, pool.map(render, jobs), strict=True))


@pytest.fixture(scope="session")
def manifests(rendered: dict[tuple[str, str], str]) -> dict[str, list[helm.Doc]]:
    """Every scenario's manifests (Helm 4's render; test_render checks Helm 3's is the same)."""
    return {scenario: helm.documents(rendered[scenario, "4"]) for scenario in helm.SCENARIOS}


@pytest.fixture(scope="session")
def rendered_files(
    rendered: dict[tuple[str, str], str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Every scenario's manifests in a file, for command-line validators."""
    folder = tmp_path_factory.mktemp("rendered")
    files = {}
    for scenario in helm.SCENARIOS:
        path = folder / f"{scenario}.yaml"
        path.write_text(rendered[scenario, "4"])
        files[scenario] = path
    return files
