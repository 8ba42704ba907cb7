"""The web page in a real headless Chromium (Debian's), driven by playwright-core: type, choose,
click, and check that audio with a positive duration arrived."""
import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent


def test_page_speaks_in_a_real_browser(server):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (scripts/test.sh installs it)"
    node_modules = Path(os.environ.get("POLYVOX_TOOLS_DIR", Path.home() / ".cache/polyvox-tools")) / "node/node_modules"
    assert (node_modules / "playwright-core").is_dir(), "playwright-core missing; run scripts/tools.sh"
    r = subprocess.run(["node", str(HERE / "page_test.cjs"), server.url, chromium, server.key],
                       env={**os.environ, "NODE_PATH": str(node_modules)},
                       capture_output=True, text=True, timeout=240)
    print(r.stdout, r.stderr)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "duration=" in r.stdout
    seconds = float(r.stdout.split("duration=")[1].split()[0])
    assert seconds > 0.5
