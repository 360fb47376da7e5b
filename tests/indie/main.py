"""Starts the independent DSP 2025-1 connector: three servers on 127.0.0.1:0 (the DSP
endpoint of both roles, the EDC-v3-shaped management API, the data plane), then one JSON line on
stdout naming their URLs. Configuration comes from a JSON file (`--config`); `--fault NAME`
(repeatable) breaks one rule each (see FAULTS).

    python3 main.py --config connector.json [--management v2] [--fault accept-no-token ...]

`--management v2` serves the management API as Tractus-X EDC 0.4.1 shapes it (management_v2.py)
instead of EDC v3's; `--audience protocol-url` accepts only DATs whose audience is this
connector's DSP URL, and asks for DATs whose audience is the address it sends to (the rules of
0.4.1), instead of participant ids.
"""

import argparse
import json
import sys
import threading
from http.server import ThreadingHTTPServer

from common import Outgoing
from dataplane import DataPlaneHandler
from dsp_consumer import Consumer
from dsp_http import ProviderHandler
from dsp_provider import Provider
from identity import DatClient, DatVerifier
from management import ManagementHandler
from management_v2 import ManagementV2Handler
from store import Store

# Each breaks one rule; none is on unless named.
FAULTS = {
    "accept-no-token": "DSP requests without a token are served",
    "accept-expired": "expired DATs are accepted",
    "accept-any-audience": "DATs for another audience are accepted",
    "catalog-wrong-type": "the catalog's @type is DataCatalog",
    "unknown-dataset-200": "an unknown dataset is answered 200",
    "unknown-pid-200": "an unknown negotiation is answered 400 instead of 404",
    "ignore-pids": "messages naming other pids are accepted",
    "terminate-finalized": "a FINALIZED negotiation can be terminated",
    "verify-anytime": "a verification is accepted when already FINALIZED",
    "never-agree": "the provider never agrees",
    "agreement-wrong-target": "the agreement targets another dataset",
    "transfer-unfinalized": "transfers are accepted under an agreement not finalized",
    "keep-token": "the data-plane token survives the transfer's end",
    "wrong-bytes": "the data plane alters the first byte",
    "wrong-version": "the version document's 2025-1 entry has no binding",
    "send-no-token": "outgoing DSP messages carry no token",
    "no-initial-offers": "provider-initiated offers are not served (an optional feature turned off)",
    "never-verify": "the consumer never verifies an agreement",
    "verify-wrong-pid": "the consumer's verification names another providerPid",
    "accept-any-callback": "the consumer's callbacks change state from any state",
}


class App:
    def __init__(self, config, faults):
        self.config = config
        self.faults = set(faults)
        self.participant_id = config["participant_id"]
        self.api_key = config.get("api_key", "password")
        self.delay = float(config.get("delay_seconds", 0.2))
        self.management_path = "/management"
        self.peers = config.get("peers", {})
        self.store = Store()
        auth = config.get("auth")
        self.dat = DatClient(auth["token_url"], auth["key_dir"]) if auth else None
        self.verifier = DatVerifier(auth["jwks_url"], auth["issuer"], self.participant_id,
                                    accept_any_audience="accept-any-audience" in self.faults,
                                    check_expiry="accept-expired" not in self.faults) if auth else None
        self.out = Outgoing(self.dat, self.faults)
        self.provider = Provider(self)
        self.consumer = Consumer(self)

    def participant_of(self, claims):
        """The participant id of a peer, from its DAT's subject (this connector's directory)."""
        sub = (claims or {}).get("sub")
        return self.peers.get(sub) or (claims or {}).get("referringConnector") or sub or "unknown"


class Server(ThreadingHTTPServer):
    # The harness runs cases concurrently; the default backlog of 5 drops connections under
    # load, which clients only retry after seconds.
    request_queue_size = 128
    daemon_threads = True


def serve(handler, app):
    handler_class = type(handler.__name__, (handler,), {"app": app})
    server = Server(("127.0.0.1", 0), handler_class)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--fault", action="append", default=[])
    parser.add_argument("--management", choices=["v3", "v2"], default="v3")
    parser.add_argument("--audience", choices=["participant-id", "protocol-url"], default="participant-id")
    args = parser.parse_args()
    unknown = [f for f in args.fault if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault(s) {unknown}; known: {sorted(FAULTS)}")
    with open(args.config) as f:
        config = json.load(f)
    app = App(config, args.fault)
    root = serve(ProviderHandler, app)
    management = serve(ManagementV2Handler if args.management == "v2" else ManagementHandler, app)
    dataplane = serve(DataPlaneHandler, app)
    app.dsp_url = root + "/api/dsp"
    if args.audience == "protocol-url" and app.verifier is not None:
        # Known only once the server is bound: the URL the DATs must be for.
        app.verifier.audience = app.dsp_url
    if args.audience == "protocol-url":
        # And the DATs it sends are for the address each message goes to.
        app.out.by_address = True
    # The consumer's callback address is the connector's own DSP endpoint.
    app.callback_url = app.dsp_url
    app.public_url = dataplane + "/public"
    print(json.dumps({"dsp": app.dsp_url, "root": root, "callback": app.callback_url, "management": management + "/management",
                      "public": app.public_url, "backend": dataplane + "/backend/data", "faults": sorted(app.faults)}), flush=True)
    for f in args.fault:
        print(f"warning: fault {f} is on: {FAULTS[f]}", file=sys.stderr, flush=True)
    try:
        sys.stdin.read()  # runs until the parent closes stdin (or kills it)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
