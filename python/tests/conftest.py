"""Fixtures: a real local AIS-Go cluster (1 gateway, 2 targets) for the session.

The cluster is started with the repository's ``bin/ais cluster start`` on
free loopback ports in 20000-30000, in a temporary directory removed at the
end; ``bin/ais`` (and ``bin/aisnode`` beside it) must have been built:
``go build -o bin/ ./cmd/...`` (the Makefile does it before the tests).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Callable, Dict, Iterator, List

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYROOT = os.path.dirname(HERE)
REPO = os.path.dirname(PYROOT)
if PYROOT not in sys.path:
    sys.path.insert(0, PYROOT)

import aisgo  # noqa: E402

BIN = os.environ.get("AISGO_BIN") or os.path.join(REPO, "bin")
AIS = os.path.join(BIN, "ais")
AISNODE = os.path.join(BIN, "aisnode")
NODES = 3  # 1 gateway + 2 targets, on PORT, PORT+1, PORT+2


def _ports_free(base: int, n: int) -> bool:
    for port in range(base, base + n):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _pick_base() -> int:
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(200):
        base = rng.randrange(20000, 30000 - NODES)
        if _ports_free(base, NODES):
            return base
    raise RuntimeError("no 3 free consecutive loopback ports in 20000-30000")


class Cluster:
    """A running local cluster: its endpoint and a runner of bin/ais."""

    def __init__(self, endpoint: str, directory: str) -> None:
        self.endpoint = endpoint
        self.dir = directory

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env["AIS_ENDPOINT"] = self.endpoint
        return env

    def ais(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """Runs bin/ais with AIS_ENDPOINT set to this cluster."""
        p = subprocess.run([AIS, *args], env=self.env(), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"ais {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if not (os.path.isfile(AIS) and os.access(AIS, os.X_OK)) or not os.path.isfile(AISNODE):
        pytest.fail(
            f"{AIS} and {AISNODE} are needed to run a local cluster: build them first with "
            f"'cd {REPO} && go build -o bin/ ./cmd/...' (the Makefile does it), or set AISGO_BIN to their directory",
            pytrace=False,
        )
    directory = tempfile.mkdtemp(prefix="aisgo-pytest-")
    started = None
    errors: List[str] = []
    try:
        for _ in range(3):  # another process may take the ports meanwhile
            base = _pick_base()
            cdir = os.path.join(directory, f"cluster-{base}")
            p = subprocess.run(
                [AIS, "cluster", "start", "--gateways", "1", "--targets", "2", "--port", str(base), "--dir", cdir, "--no-sync"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if p.returncode == 0:
                started = Cluster(f"http://127.0.0.1:{base}", cdir)
                break
            errors.append(f"port {base}: {p.stdout}\n{p.stderr}")
            subprocess.run([AIS, "cluster", "stop", "--dir", cdir], capture_output=True, timeout=60)
        if started is None:
            pytest.fail("could not start a local cluster:\n" + "\n".join(errors), pytrace=False)
        os.environ["AIS_ENDPOINT"] = started.endpoint
        yield started
    finally:
        if started is not None:
            subprocess.run([AIS, "cluster", "stop", "--dir", started.dir], capture_output=True, timeout=120)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def client(cluster: Cluster) -> aisgo.Client:
    return aisgo.Client(cluster.endpoint)


@pytest.fixture
def bucket(client: aisgo.Client) -> Iterator[str]:
    """A fresh bucket, destroyed after the test."""
    name = "t-" + uuid.uuid4().hex[:10]
    client.create_bucket(name)
    yield name
    client.destroy_bucket(name, missing_ok=True)


@pytest.fixture
def new_bucket_name() -> Callable[[], str]:
    return lambda: "t-" + uuid.uuid4().hex[:10]
