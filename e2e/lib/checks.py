"""What the Python checks (e2e/fhir, e2e/webhooks) share: counting results as TAP-like lines,
and the real vytalcall binary started on a fresh SQLite data directory, with tokens minted
by the binary itself (`vytalcall token`)."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

RESULTS = {"passed": 0, "failed": 0}


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
        print(f"ok - {name}")
    else:
        RESULTS["failed"] += 1
        print(f"not ok - {name} {detail}")


def finish(label):
    """Prints the counts and exits non-zero on any failure."""
    print(f"{label}{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`vytalcall` on a free port and a fresh data directory, ready once `/readyz` answers.
    The environment is the caller's minus any JWT secret, database or data directory, plus
    `extra_env`. Use as a context manager: the process is stopped on exit."""

    def __init__(self, binary, prefix, token_name, extra_env=None):
        self.binary = os.path.abspath(binary)
        self.token_name = token_name
        self.data_dir = tempfile.mkdtemp(prefix=prefix)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "DATABASE_URL", "DATA_DIR")}
        env.update(extra_env or {})
        self.process = subprocess.Popen(
            [self.binary, "--data-dir", self.data_dir, "--port", str(port)],
            cwd=self.data_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{port}"

    def __enter__(self):
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=20)
        return False

    def mint(self, user, role):
        """A token for `user` as `role`, named `token_name`, signed by the server's secret."""
        out = subprocess.run(
            [self.binary, "--data-dir", self.data_dir, "token", "--user", user, "--role", role,
             "--name", self.token_name],
            capture_output=True, text=True, check=True, cwd=self.data_dir,
        )
        return out.stdout.strip().splitlines()[-1].strip()
