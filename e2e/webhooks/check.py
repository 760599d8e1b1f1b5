"""Webhook deliveries, checked by the PyPI `standardwebhooks` package used as it is.

Starts the real vytalcall binary on a fresh SQLite data directory with WEBHOOK_URL pointing
at a receiver in this process, holds a call over REST (create, answer, end), then checks
that every delivery verifies with `standardwebhooks.webhooks.Webhook`, that the call's
events arrived in order with the documented fields and no names, and that a tampered body
or signature is refused by the library.

Usage: python check.py <path to the vytalcall binary>. Prints "N passed, N failed".
"""

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BIN = os.path.abspath(sys.argv[1])
RESULTS = {"passed": 0, "failed": 0}
RECEIVED = []


def check(name, condition, detail=""):
    if condition:
        RESULTS["passed"] += 1
        print(f"ok - {name}")
    else:
        RESULTS["failed"] += 1
        print(f"not ok - {name} {detail}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        RECEIVED.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def mint(data_dir, user, role):
    out = subprocess.run(
        [BIN, "--data-dir", data_dir, "token", "--user", user, "--role", role, "--name", "Webhook Test"],
        capture_output=True, text=True, check=True, cwd=data_dir,
    )
    return out.stdout.strip().splitlines()[-1].strip()


def post(base, path, token, body):
    req = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def main():
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    data_dir = tempfile.mkdtemp(prefix="vytalcall-webhooks-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "DATABASE_URL", "DATA_DIR")}
    env.update({
        "WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
        "WEBHOOK_SECRET": secret,
        "WEBHOOK_ALLOW_PRIVATE": "true",
    })
    server = subprocess.Popen(
        [BIN, "--data-dir", data_dir, "--port", str(port)],
        cwd=data_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        provider, patient = str(uuid.uuid4()), str(uuid.uuid4())
        t_provider = mint(data_dir, provider, "provider")
        t_patient = mint(data_dir, patient, "patient")
        call_id = post(base, "/webrtc/calls", t_provider, {"patientId": patient, "type": "video"})["id"]
        post(base, f"/webrtc/calls/{call_id}/answer", t_patient, {})
        post(base, f"/webrtc/calls/{call_id}/end", t_provider, {"reason": "Visit complete"})

        deadline = time.time() + 60
        while time.time() < deadline and not any('"call.ended"' in body for _, body in RECEIVED):
            time.sleep(0.1)

        wh = Webhook(secret)
        payloads = []
        for headers, body in list(RECEIVED):
            try:
                payloads.append(wh.verify(body, headers))
            except WebhookVerificationError as e:
                check("a delivery verifies", False, str(e))
        check("every delivery verifies with standardwebhooks (PyPI)", len(payloads) == len(RECEIVED) >= 4, str(len(RECEIVED)))
        types = [p["type"] for p in payloads if p["data"].get("callId") == call_id]
        check("the call's events arrived in order", types == ["call.created", "call.ringing", "call.answered", "call.ended"], types)
        ended = next((p for p in payloads if p["type"] == "call.ended"), {})
        check("call.ended carries its state and reason",
              ended.get("data", {}).get("status") == "ended" and ended["data"].get("reason") == "Visit complete", ended)
        check("no names in any body", all("Webhook Test" not in body for _, body in RECEIVED))

        headers, body = RECEIVED[0]
        tampered_body = body.replace('"call.', '"kall.', 1)
        try:
            wh.verify(tampered_body, headers)
            check("a tampered body is refused", False)
        except WebhookVerificationError:
            check("a tampered body is refused", True)
        other = Webhook("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
        try:
            other.verify(body, headers)
            check("another secret's signature is refused", False)
        except WebhookVerificationError:
            check("another secret's signature is refused", True)
    finally:
        server.terminate()
        server.wait(timeout=20)
        receiver.shutdown()
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
