"""Server processes pinned to one CPU, a small HTTP client, and the memory a server holds."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HEALTH = "/api/v1/health"
STARTUP_SECONDS = 60
STOP_SECONDS = 15


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


def request(base_url: str, method: str, path: str, body: Mapping[str, Any] | None = None,
            token: str | None = None, timeout: float = 60) -> Reply:
    """One request on a fresh connection; JSON in, JSON (or None) out."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        return Reply(response.status, json.loads(raw) if raw else None)
    except ValueError:
        return Reply(response.status, raw.decode(errors="replace"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def rss_bytes(self) -> int:
        """The resident memory of the process that serves (it may be a child of the one
        started, when a wrapper starts the server)."""
        return rss_bytes(serving_pid(self.process.pid, self.port))


@contextmanager
def pinned_server(cpu: int, command: Callable[[int], list[str]], env: Mapping[str, str],
                  log: Path, cwd: Path | None = None) -> Iterator[Server]:
    """Run `command(port)` pinned to `cpu` on a free port until it answers HEALTH with 200,
    its output going to `log`; always stop it afterwards."""
    port = free_port()
    with log.open("w") as output:
        process = subprocess.Popen(["taskset", "-c", str(cpu), *command(port)], env=dict(env),
                                   cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", port, process, log)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if request(server.url, "GET", HEALTH, timeout=5).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.url} did not become healthy (exit status {server.process.poll()}); "
                       f"its output:\n{server.log.read_text()[-4000:]}")


def serving_pid(root: int, port: int) -> int:
    """Of `root` and its descendants, the process holding the socket listening on `port`
    (the largest, should several share it)."""
    inodes = _listening_socket_inodes(port)
    holders = [pid for pid in _process_tree(root) if _holds_socket(pid, inodes)]
    if not holders:
        raise RuntimeError(f"no process under pid {root} listens on port {port}")
    return max(holders, key=rss_bytes)


def rss_bytes(pid: int) -> int:
    """VmRSS from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS")


def _listening_socket_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def _process_tree(root: int) -> list[int]:
    """`root` and its descendants, parents first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # the name in () may hold spaces
        children.setdefault(parent, []).append(int(entry.name))
    tree, index = [root], 0
    while index < len(tree):
        tree.extend(sorted(children.get(tree[index], [])))
        index += 1
    return tree


def _holds_socket(pid: int, inodes: set[str]) -> bool:
    targets = {f"socket:[{inode}]" for inode in inodes}
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # gone, or not ours to look at
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(descriptor) in targets:
                return True
        except OSError:  # closed meanwhile
            continue
    return False
