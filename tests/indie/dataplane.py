"""The provider's HTTP-pull data plane and a small backend. `GET /public/{providerPid}` with
the transfer's token in `Authorization` streams the asset's bytes from its data address
(`baseUrl`), while the transfer is STARTED and the token is the one handed out for it. The
backend (`/backend/data`) is where the test's asset gets its bytes from.
"""

import hmac
import urllib.request

from common import Handler, HttpError, field, text
from identity import strip_bearer

BACKEND_DATA = b'{"dataset": "carbon-emissions", "unit": "tCO2e", "values": [{"year": 2024, "scope1": 1200.5, "scope2": 830.25}]}\n'


class DataPlaneHandler(Handler):
    def handle_request(self, method, path):
        if path == "/backend/data" and method == "GET":
            self.send_bytes(BACKEND_DATA)
            return
        if not path.startswith("/public/") or method != "GET":
            raise HttpError(404, f"no route {method} {path}")
        pid = path[len("/public/"):]
        token = strip_bearer(self.headers.get("Authorization") or "")
        store = self.app.store
        with store.lock:
            owner = store.tokens.get(token) if token else None
            t = store.provider_transfers.get(pid)
            ok = t is not None and owner == pid and hmac.compare_digest((t["token"] or "").encode(), token.encode())
            if ok and t["state"] != "STARTED" and "keep-token" not in self.app.faults:
                ok = False
        if not ok:
            raise HttpError(401 if not token else 403, "no valid token for this transfer")
        asset = store.assets.get(t["asset"]) or {}
        address = field(asset, "dataAddress") or {}
        source = text(address, "baseUrl")
        if not source:
            raise HttpError(502, "the asset has no baseUrl")
        with urllib.request.urlopen(source, timeout=30) as response:
            content_type = response.headers.get("Content-Type") or "application/octet-stream"
            length = response.headers.get("Content-Length")
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            wrong = "wrong-bytes" in self.app.faults
            if length and not wrong:
                self.send_header("Content-Length", length)
            else:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            first = True
            while True:
                chunk = response.read(65536)
                if not chunk:
                    break
                if wrong and first:
                    chunk = b"X" + chunk[1:]
                first = False
                if length and not wrong:
                    self.wfile.write(chunk)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if not (length and not wrong):
                self.wfile.write(b"0\r\n\r\n")

    def send_bytes(self, data):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
