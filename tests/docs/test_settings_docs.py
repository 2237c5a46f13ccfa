"""The README's settings tables and .env.example are what the settings classes say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_tables_and_env_example_are_current() -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "settings_docs.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
