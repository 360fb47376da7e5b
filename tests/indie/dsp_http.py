"""The DSP HTTP server: the connector's protocol endpoint (with the version document at its
root), serving the provider's routes and the consumer's callbacks. It refuses a request without
a valid DAT with 401 and the protocol's error body for the area, before anything else happens.
`ConsumerHandler` holds the consumer's routes, which `ProviderHandler` delegates to.
"""

from common import DSP_CONTEXT, Handler, HttpError
from dsp_consumer import ROUTES as CONSUMER_ROUTES
from dsp_provider import CE, CNE, TE, ROUTES as PROVIDER_ROUTES
from identity import TokenError


def area_error(path):
    if "/negotiations" in path:
        return CNE
    if "/transfers" in path:
        return TE
    return CE


def match(routes, method, path):
    for m, pattern, name in routes:
        found = pattern.match(path)
        if found and m == method:
            return name, found.groupdict()
    return None, None


class DspHandler(Handler):
    """Routes below the connector's DSP base path (`/api/dsp`)."""

    base_path = "/api/dsp"
    routes = []

    def authenticate(self, path):
        app = self.app
        if app.verifier is None:
            return {}
        header = self.headers.get("Authorization")
        if not header:
            if "accept-no-token" in app.faults:
                return {}
            raise HttpError(401, "no token", area_error(path))
        try:
            return app.verifier.verify(header)
        except TokenError as e:
            raise HttpError(401, f"token refused: {e}", area_error(path))

    def handle_request(self, method, path):
        if path == "/.well-known/dspace-version" and method == "GET" and self.serves_version:
            entry = {"version": "2025-1", "path": self.base_path, "binding": "HTTPS"}
            if "wrong-version" in self.app.faults:
                # A harness that discovers the version would simply speak the one announced, so
                # the fault breaks the entry itself: no binding.
                del entry["binding"]
            self.send_json(200, {"protocolVersions": [entry]})
            return
        if not path.startswith(self.base_path + "/"):
            raise HttpError(404, f"no route {path}", area_error(path))
        path = path[len(self.base_path):]
        name, params = match(self.routes, method, path)
        if name is None:
            other_method = any(p.match(path) for _, p, _ in self.routes)
            raise HttpError(405 if other_method else 404, f"no route {method} {path}", area_error(path))
        claims = self.authenticate(path)
        getattr(self, name)(claims, **params)


class ProviderHandler(DspHandler):
    """The connector's one DSP endpoint: provider routes, and the consumer's callbacks (a
    connector has one protocol address; a process id says which role it belongs to)."""

    routes = [("POST", CONSUMER_ROUTES[0][1], "initial_offer")] + PROVIDER_ROUTES
    serves_version = True

    def initial_offer(self, claims):
        if "no-initial-offers" in self.app.faults:
            raise HttpError(405, "this connector starts every negotiation itself", CNE)
        ConsumerHandler.initial_offer(self, claims)

    def consumer_side(self, id, table):
        return unquote(id) not in getattr(self.app.store, "provider_" + table) and unquote(id) in getattr(self.app.store, "consumer_" + table)

    def catalog(self, claims):
        self.send_json(200, self.app.provider.catalog(self.json_body(CE)))

    def dataset(self, claims, id):
        self.send_json(200, self.app.provider.get_dataset(unquote(id)))

    def negotiation_request(self, claims):
        n = self.app.provider.initial_request(self.json_body(CNE), claims)
        self.send_json(201, self.app.provider.negotiation_doc(n))

    def negotiation_get(self, claims, id):
        n = self.app.provider.find_negotiation(unquote(id))
        self.send_json(200, self.app.provider.negotiation_doc(n))

    def negotiation_message(self, claims, id, what):
        if self.consumer_side(id, "negotiations"):
            return ConsumerHandler.negotiation_callback(self, claims, id, what)
        p = self.app.provider
        n = p.find_negotiation(unquote(id))
        body = self.json_body(CNE, (n["providerPid"], n["consumerPid"]))
        handler = {"request": p.counter_request, "events": p.event, "agreement/verification": p.verification,
                   "termination": p.termination}.get(what)
        if handler is None:
            raise HttpError(400, f"a provider does not take {what} messages", CNE, (n["providerPid"], n["consumerPid"]))
        handler(n, body)
        self.send_json(200, None)

    def transfer_request(self, claims):
        t = self.app.provider.transfer_request(self.json_body(TE), claims)
        self.send_json(201, self.app.provider.transfer_doc(t))

    def transfer_get(self, claims, id):
        t = self.app.provider.find_transfer(unquote(id))
        self.send_json(200, self.app.provider.transfer_doc(t))

    def transfer_message(self, claims, id, what):
        if self.consumer_side(id, "transfers"):
            return ConsumerHandler.transfer_callback(self, claims, id, what)
        p = self.app.provider
        t = p.find_transfer(unquote(id))
        body = self.json_body(TE, (t["providerPid"], t["consumerPid"]))
        {"start": p.consumer_start, "completion": p.completion, "suspension": p.suspension,
         "termination": p.transfer_termination}[what](t, body)
        self.send_json(200, None)


class ConsumerHandler(DspHandler):
    routes = CONSUMER_ROUTES
    serves_version = False
    base_path = "/callback"

    def initial_offer(self, claims):
        c = self.app.consumer
        n = c.initial_offer(self.json_body(CNE), claims)
        self.send_json(201, {"@context": [DSP_CONTEXT], "@type": "ContractNegotiation", "providerPid": n["providerPid"],
                             "consumerPid": n["consumerPid"], "state": n["state"]})

    def negotiation_callback(self, claims, id, what):
        c = self.app.consumer
        n = c.find_negotiation(unquote(id))
        c.negotiation_callback(n, what, self.json_body(CNE, (n["providerPid"], n["consumerPid"])))
        self.send_json(200, None)

    def transfer_callback(self, claims, id, what):
        c = self.app.consumer
        t = c.find_transfer(unquote(id))
        c.transfer_callback(t, what, self.json_body(TE, (t["providerPid"], t["consumerPid"])))
        self.send_json(200, None)


def unquote(segment):
    from urllib.parse import unquote as u
    return u(segment)
