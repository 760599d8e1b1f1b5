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
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Server, check, finish  # noqa: E402

BIN = sys.argv[1]
RECEIVED = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        RECEIVED.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


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
    env = {
        "WEBHOOK_URL": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
        "WEBHOOK_SECRET": secret,
        "WEBHOOK_ALLOW_PRIVATE": "true",
    }
    with Server(BIN, "vytalcall-webhooks-", "Webhook Test", env) as server:
        base = server.base
        provider, patient = str(uuid.uuid4()), str(uuid.uuid4())
        t_provider = server.mint(provider, "provider")
        t_patient = server.mint(patient, "patient")
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
    receiver.shutdown()
    finish("")


if __name__ == "__main__":
    main()
