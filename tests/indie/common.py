"""What every server of this connector shares: the JSON-LD vocabulary it speaks, lenient reading
of the terms its peers send (compacted, `dspace:`-prefixed or expanded), the DSP error bodies,
outgoing requests carrying this connector's DAT, and the request-handler base class.
"""

import json
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler

DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
DSPACE_NS = "https://w3id.org/dspace/v0.8/"
EDC_NS = "https://w3id.org/edc/v0.0.1/ns/"
ODRL_NS = "http://www.w3.org/ns/odrl/2/"


class HttpError(Exception):
    """An answer other than success: status, DSP error type and reason."""

    def __init__(self, status, reason, kind=None, pids=(None, None), code=None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.kind = kind
        self.pids = pids
        self.code = code or str(status)


def field(obj, name):
    """A term of a JSON-LD object, however the sender compacted it."""
    if not isinstance(obj, dict):
        return None
    for key in (name, "dspace:" + name, "edc:" + name, "odrl:" + name, DSPACE_NS + name, EDC_NS + name, ODRL_NS + name):
        if key in obj:
            value = obj[key]
            if isinstance(value, dict) and "@value" in value:
                return value["@value"]
            if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict) and "@value" in value[0]:
                return value[0]["@value"]
            return value
    return None


def text(obj, name):
    value = field(obj, name)
    if isinstance(value, dict) and "@id" in value and len(value) == 1:
        value = value["@id"]
    return value if isinstance(value, str) else None


def type_of(obj):
    value = obj.get("@type") if isinstance(obj, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value.split(":")[-1].split("/")[-1]
    return None


def error_body(kind, pids, code, reason):
    body = {"@context": [DSP_CONTEXT], "@type": kind, "code": code, "reason": [reason]}
    if kind != "CatalogError":
        body["providerPid"] = pids[0] or "unknown"
        body["consumerPid"] = pids[1] or "unknown"
    return body


def now_ms():
    return int(time.time() * 1000)


def later(delay, fn, *args):
    """Runs `fn` on its own thread after `delay` seconds, as a connector's state machine would."""
    def run():
        time.sleep(delay)
        try:
            fn(*args)
        except OSError as e:
            # A peer that went away (a finished test case) is not this connector's problem.
            print(f"indie: a background move could not reach its peer: {getattr(e, 'reason', e)}", file=sys.stderr)
        except Exception:  # noqa: BLE001 - a background move that fails is logged, not fatal
            traceback.print_exc()
    threading.Thread(target=run, daemon=True).start()


# Where a DSP endpoint's own path starts in a URL the connector sends to.
DSP_PATHS = ("/catalog/", "/negotiations/", "/transfers/")


def dsp_base(url):
    """The DSP address a message URL was made from: the URL up to its DSP path."""
    cut = max(url.rfind(p) for p in DSP_PATHS)
    return url[:cut] if cut > 0 else url


class Outgoing:
    """Sends DSP messages with this connector's DAT for the receiving participant, or, with
    `by_address` (the rule of 0.4.1), for the DSP address the message goes to."""

    def __init__(self, dat_client, faults):
        self.dat = dat_client
        self.faults = faults
        self.by_address = False

    def headers(self, audience):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.dat is not None and "send-no-token" not in self.faults:
            headers["Authorization"] = "Bearer " + self.dat.token(audience or "idsc:IDS_CONNECTORS_ALL")
        return headers

    def request(self, method, url, audience, body=None):
        if self.by_address:
            audience = dsp_base(url)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=self.headers(audience))
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw.strip() else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except Exception:  # noqa: BLE001
                return e.code, None

    def post(self, url, audience, body):
        return self.request("POST", url, audience, body)


def join(base, path):
    return base.rstrip("/") + "/" + path.lstrip("/")


class Handler(BaseHTTPRequestHandler):
    """JSON in, JSON out; subclasses route by `self.routes()`."""

    protocol_version = "HTTP/1.1"
    app = None

    def log_message(self, fmt, *args):  # quiet: the harness records every exchange itself
        pass

    def read_body(self):
        if getattr(self, "_raw", None) is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._raw = self.rfile.read(length) if length else b""
        return self._raw

    def send_json(self, status, body, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def dispatch(self, method):
        path = self.path.split("?", 1)[0]
        self._raw = None
        self.read_body()
        try:
            self.handle_request(method, path)
        except HttpError as e:
            if e.kind:
                self.send_json(e.status, error_body(e.kind, e.pids, e.code, e.reason))
            else:
                self.send_json(e.status, [{"message": e.reason, "type": "Error"}])
        except BrokenPipeError:
            pass
        except Exception as e:  # noqa: BLE001 - every bad input gets an answer, never a crash
            traceback.print_exc()
            self.send_json(500, [{"message": f"internal error: {e}", "type": "Error"}])

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def json_body(self, kind, pids=(None, None)):
        raw = self.read_body()
        try:
            body = json.loads(raw)
        except Exception:  # noqa: BLE001
            raise HttpError(400, "the body is not JSON", kind, pids)
        if not isinstance(body, dict):
            raise HttpError(400, "the body is not a JSON object", kind, pids)
        return body
