"""File descriptors: the soft limit raised at start (in a child process), and the HTTP server's share of it."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

from structlog.testing import capture_logs

from face01d.config.models import CameraConfig, Config, HttpConfig, WorkersConfig
from face01d.fds import (MIN_CONNECTIONS, RESERVE_PER_CAMERA, RESERVE_PER_WORKER, RESERVE_SPARE, FdBudget,
                         fd_budget, open_descriptors)
from face01d.http.guard import limits_for

RAISE_IN_CHILD = """
import json, resource
from face01d.fds import raise_soft_limit
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
print(json.dumps({"returned": raise_soft_limit(), "now": resource.getrlimit(resource.RLIMIT_NOFILE)}))
"""


def test_the_soft_limit_is_raised_to_the_hard_one():
    out = subprocess.run([sys.executable, "-c", RAISE_IN_CHILD], capture_output=True, text=True, check=True, timeout=60)
    figures = json.loads(out.stdout)
    soft, hard = figures["now"]
    assert soft == min(hard, 65536) > 256 and figures["returned"] == [soft, hard]


def test_the_reserve_counts_what_is_open_and_what_cameras_and_workers_will_open():
    budget = fd_budget(cameras=3, worker_processes=2)
    assert budget.soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert abs(budget.open_now - open_descriptors()) <= 2
    assert budget.reserve == budget.open_now + RESERVE_SPARE + 3 * RESERVE_PER_CAMERA + 2 * RESERVE_PER_WORKER


def test_connections_are_what_was_asked_or_what_the_limit_leaves():
    budget = FdBudget(soft=1024, open_now=30, reserve=200)
    assert budget.connections(256) == 256
    assert budget.connections(5000) == 1024 - 200
    assert FdBudget(soft=256, open_now=30, reserve=300).connections(256) == MIN_CONNECTIONS


def test_the_server_limits_come_from_the_config_and_a_cap_over_the_budget_is_cut_with_a_warning():
    cameras = [CameraConfig(name="door", source="door.mp4"), CameraConfig(name="yard", source="yard.mp4")]
    config = Config(http=HttpConfig(max_connections=65536, head_timeout_s=3, body_timeout_s=4, send_timeout_s=5,
                                    keepalive_s=6), cameras=cameras,
                    workers=WorkersConfig(detect="thread", encode="process", processes=3))
    with capture_logs() as logs:
        limits = limits_for(config)
    [figures] = [entry for entry in logs if entry["event"] == "file descriptors"]
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert figures["soft_limit"] == soft
    assert figures["reserve"] >= RESERVE_SPARE + 2 * RESERVE_PER_CAMERA + 3 * RESERVE_PER_WORKER
    assert limits.max_connections == figures["max_connections"] == soft - figures["reserve"]
    assert (limits.head_timeout_s, limits.body_timeout_s, limits.send_timeout_s, limits.keepalive_s) == (3, 4, 5, 6)
    assert any(entry["log_level"] == "warning" and entry["allowed"] == limits.max_connections for entry in logs)
