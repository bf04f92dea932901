"""Brokers a test may kill: a named single node (``solo``) and the three-node cluster (``trio``).

Both are started through ``infra/kafka.sh`` on their own ports, so the shared broker on
127.0.0.1:9092 is never touched. A kill is SIGKILL to the JVM (its pid file), a crash
without a clean shutdown; ``start`` brings the same node back on its old data directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "infra" / "kafka.sh"
VAR = Path(os.environ.get("TIDINGS_VAR_DIR", ROOT / "var"))
SHARED_PORT = 9092


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


class KillableCluster:
    """``solo`` (one node, ``port``) or ``trio`` (19092/19094/19096, rf 3, min ISR 2)."""

    def __init__(self, name: str, nodes: int = 1, port: int = 29092) -> None:
        assert port != SHARED_PORT, "the shared broker is never a fault target"
        self.name, self.nodes, self.port = name, nodes, port
        ports = [19090 + 2 * i for i in range(1, 4)] if nodes == 3 else [port]
        self.ports = dict(enumerate(ports, start=1))
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports)
        self.started_here = False

    def _pidfile(self, node: int) -> Path:
        return VAR / "kafka" / f"{self.name}-node{node}" / "pid"

    def pid(self, node: int) -> int | None:
        path = self._pidfile(node)
        if not path.exists():
            return None
        pid = int(path.read_text().strip())
        return pid if _alive(pid) else None

    def start(self) -> KillableCluster:
        single = ["--name", self.name, "--port", str(self.port)]
        args = ["--nodes", "3"] if self.nodes == 3 else single
        subprocess.run([str(KAFKA_SH), "start", *args], check=True, timeout=240)
        self.started_here = True
        self.wait_registered()
        return self

    def wait_registered(self, timeout_s: float = 120) -> None:
        """Until every node is a registered broker: the first to answer metadata may still be
        alone, and a topic with replication factor 3 cannot be created before all are in."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if len(admin.list_topics(timeout=10).brokers) >= self.nodes:
                    return
            except Exception:  # metadata unavailable while nodes come up
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: not all {self.nodes} brokers registered")

    def kill(self, node: int = 1) -> None:
        """SIGKILL one node and wait until the process is gone."""
        pid = self.pid(node)
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def start_node(self, node: int = 1, wait_s: float = 120) -> None:
        subprocess.run([str(KAFKA_SH), "start-node", self.name, str(node)], check=True, timeout=60)
        self.wait_port(self.ports[node], wait_s)

    @staticmethod
    def wait_port(port: int, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"broker port {port} never opened")

    def stop(self) -> None:
        """Stop every node of this cluster (only ours: never the shared one), all at once: one
        by one, the last nodes wait out their controlled shutdown without a quorum."""
        stopping = [
            subprocess.Popen([str(KAFKA_SH), "stop-node", self.name, str(node)])
            for node in self.ports
        ]
        for proc in stopping:
            proc.wait(timeout=60)

    def leader_of(self, topic: str, partition: int) -> int:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        meta = admin.list_topics(topic, timeout=10).topics[topic].partitions[partition]
        return int(meta.leader)

    def wait_in_sync(self, topic: str, timeout_s: float = 120) -> None:
        """Until every partition of ``topic`` has all replicas in sync again."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                parts = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
                if all(len(p.isrs) == len(p.replicas) and p.leader >= 0 for p in parts):
                    return
            except Exception:  # metadata unavailable while nodes come back
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{topic} replicas not back in sync")
