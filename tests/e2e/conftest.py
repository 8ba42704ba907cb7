"""Fixtures for end-to-end tests: real `polyvox serve` processes on loopback port 0, with the
real model. The binary comes from $POLYVOX_BIN (scripts/test.sh sets it)."""
import json
import os
import re
import subprocess
import tempfile
import threading
import time

import pytest

BIN = os.environ.get("POLYVOX_BIN")


class Server:
    """A server with API keys required (the default) and its own data directory; `key` is a
    token created with `polyvox keys create`, as an operator would."""

    def __init__(self, *args):
        if not BIN or not os.path.exists(BIN):
            raise RuntimeError("POLYVOX_BIN is not set to a built polyvox binary; run scripts/test.sh")
        self.data = tempfile.mkdtemp(prefix="polyvox-e2e-")
        env = {**os.environ, "POLYVOX_LOG": "warn", "POLYVOX_DATA_DIR": self.data}
        env.pop("POLYVOX_NO_AUTH", None)
        created = subprocess.run([BIN, "keys", "create", "--name", "e2e", "--json"], env=env,
                                 capture_output=True, text=True, check=True)
        self.key = json.loads(created.stdout)["token"]
        self.proc = subprocess.Popen(
            [BIN, "serve", "--bind", "127.0.0.1:0", "--no-fetch", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.url = None
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.proc.kill()
            raise RuntimeError("server did not start: " + self.proc.stderr.read()[-2000:])
        # Keep draining output so a chatty server never blocks on a full pipe.
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def server():
    # The studio test renders a 20,000-character upload as one job on this 2-core machine's debug
    # build, beside other tests: its render deadline (120 s + this per 1,000 characters) is set so
    # that a slow but progressing render is not cut off and retried; a hang would still end.
    s = Server("--max-concurrent", "2", "--max-queued", "16", "--job-render-secs-per-kchar", "240")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def small_server():
    """A server with a tiny admission queue, for load-shedding tests. One key sends everything, so
    its per-key cap is lifted: the shedding under test is the admission queue's."""
    s = Server("--max-concurrent", "1", "--max-queued", "2", "--max-concurrent-per-key", "0")
    yield s
    s.stop()
