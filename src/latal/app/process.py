"""``latal label`` in a child process, for scripts, tests and benchmarks that drive the app from outside
(and may kill it like a crashed server)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request


class LabelServer:
    """Start ``latal label --port 0 ARGS...`` and wait until it prints its address and its model is ready."""

    def __init__(self, *args: str, ready_timeout: float = 600.0):
        self.proc = subprocess.Popen([sys.executable, "-m", "latal.cli", "label", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.url: str | None = None
        self.output: list[str] = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            m = re.search(r"open (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise RuntimeError("latal label did not start:\n" + "".join(self.output))
        self.wait_ready(ready_timeout)

    def get(self, path: str):
        """GET ``path`` (JSON), carrying the token when the address has one."""
        base, _, query = self.url.partition("?")
        req = urllib.request.Request(base.rstrip("/") + path)
        if query.startswith("token="):
            req.add_header("X-Latal-Token", query[len("token="):])
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def wait_ready(self, timeout: float = 600.0) -> dict:
        """Wait until the latent space exists and no retrain is running; returns the progress."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("latal label exited:\n" + "".join(self.output) + (self.proc.stdout.read() or ""))
            p = self.get("/api/progress")
            if p["error"]:
                raise RuntimeError(p["error"])
            if p["model"] == "idle" and not p["pending"]:
                return p
            time.sleep(0.1)
        raise TimeoutError("the labeling app's model never became ready")

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up, as in a crash."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
