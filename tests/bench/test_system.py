"""The benchmark's handling of the machine: which CPUs the server under test gets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.system import own_core

pytestmark = pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs; one is left as it is"
)


def test_the_server_gets_a_cpu_of_its_own_until_the_run_ends() -> None:
    available = os.sched_getaffinity(0)
    last = max(available)
    with (
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as server,
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as helper,
    ):
        try:
            with own_core(server.pid, helper.pid) as pinning:
                assert os.sched_getaffinity(server.pid) == {last}
                assert os.sched_getaffinity(helper.pid) == available - {last}
                assert os.sched_getaffinity(0) == available - {last}
                assert f"CPU {last}" in pinning
            assert os.sched_getaffinity(0) == available
        finally:
            server.kill()
            helper.kill()
