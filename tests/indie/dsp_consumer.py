"""The consumer role: what the management API starts (catalog requests, contract requests,
transfer requests) and the callbacks a provider sends to the consumer's callback address
(offers, agreements, FINALIZED events, terminations; transfer start, completion, suspension,
termination). The consumer verifies an agreement on its own, as EDC does, and accepts a
provider's offer on its own (this connector's policy: it takes whatever its provider offers,
since its management API, like EDC's, has no call to accept one).
"""

import re
import time

from common import DSP_CONTEXT, HttpError, field, join, later, text, type_of
from dsp_provider import CNE, TE, strip_context
from store import new_pid

FINAL_NEGOTIATION = ("FINALIZED", "TERMINATED")


class Consumer:
    def __init__(self, app):
        self.app = app
        self.store = app.store
        self.faults = app.faults

    # -- started through the management API ----------------------------------------------

    def request_catalog(self, address, counter_party_id, query):
        body = {"@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage"}
        if query is not None:
            body["filter"] = [query] if not isinstance(query, list) else query
        status, reply = self.app.out.post(join(address, "catalog/request"), counter_party_id, body)
        if status != 200:
            raise HttpError(502, f"the provider answered the catalog request with {status}")
        return reply

    def request_dataset(self, address, counter_party_id, dataset_id):
        status, reply = self.app.out.request("GET", join(address, "catalog/datasets/" + dataset_id), counter_party_id)
        if status != 200:
            raise HttpError(502, f"the provider answered the dataset request with {status}")
        return reply

    def start_negotiation(self, address, counter_party_id, policy):
        offer = strip_context(policy) if isinstance(policy, dict) else {}
        offer = {k: v for k, v in offer.items() if k not in ("assigner", "assignee")}
        offer.setdefault("@type", "Offer")
        n = {"consumerPid": new_pid(), "providerPid": None, "state": "REQUESTED", "address": address,
             "providerId": counter_party_id, "offer": offer, "agreement": None, "created": time.time()}
        with self.store.lock:
            self.store.consumer_negotiations[n["consumerPid"]] = n
        message = {"@context": [DSP_CONTEXT], "@type": "ContractRequestMessage", "consumerPid": n["consumerPid"],
                   "offer": offer, "callbackAddress": self.app.callback_url}
        later(0, self.send_request, n, message)
        return n

    def send_request(self, n, message):
        status, reply = self.app.out.post(join(n["address"], "negotiations/request"), n["providerId"], message)
        with self.store.lock:
            if status == 201 and isinstance(reply, dict) and text(reply, "providerPid"):
                n["providerPid"] = n["providerPid"] or text(reply, "providerPid")
            elif n["state"] not in FINAL_NEGOTIATION:
                n["state"] = "TERMINATED"
                n["errorDetail"] = f"the provider answered the contract request with {status}"

    def send_to_provider(self, n, path, message):
        return self.app.out.post(join(n["address"], f"negotiations/{n['providerPid']}/{path}"), n["providerId"], message)

    def terminate_negotiation(self, n, reason):
        with self.store.lock:
            if n["state"] in FINAL_NEGOTIATION:
                raise HttpError(409, f"negotiation is {n['state']}")
            n["state"] = "TERMINATED"
        message = {"@context": [DSP_CONTEXT], "@type": "ContractNegotiationTerminationMessage", "providerPid": n["providerPid"],
                   "consumerPid": n["consumerPid"], "code": "terminated", "reason": [reason]}
        later(0, self.send_to_provider, n, "termination", message)

    def verify(self, cpid):
        n = self.store.consumer_negotiations[cpid]
        if "never-verify" in self.faults:
            return
        with self.store.lock:
            if n["state"] != "AGREED":
                return
            n["state"] = "VERIFIED"
        message = {"@context": [DSP_CONTEXT], "@type": "ContractAgreementVerificationMessage",
                   "providerPid": n["providerPid"], "consumerPid": n["consumerPid"]}
        if "verify-wrong-pid" in self.faults:
            message["providerPid"] = new_pid()
        self.send_to_provider(n, "agreement/verification", message)

    def start_transfer(self, address, agreement_id, transfer_type, destination):
        entry = self.store.agreements.get(agreement_id)
        if entry is None or entry["role"] != "CONSUMER":
            raise HttpError(400, f"no contract agreement {agreement_id}")
        n = entry["negotiation"]
        t = {"consumerPid": new_pid(), "providerPid": None, "state": "REQUESTED", "address": address or n["address"],
             "providerId": n["providerId"], "agreementId": agreement_id, "format": transfer_type, "edr": None,
             "asset": entry["agreement"].get("target"), "created": time.time()}
        message = {"@context": [DSP_CONTEXT], "@type": "TransferRequestMessage", "consumerPid": t["consumerPid"],
                   "agreementId": agreement_id, "format": transfer_type, "callbackAddress": self.app.callback_url}
        if destination:
            message["dataAddress"] = destination
        with self.store.lock:
            self.store.consumer_transfers[t["consumerPid"]] = t
        later(0, self.send_transfer_request, t, message)
        return t

    def send_transfer_request(self, t, message):
        status, reply = self.app.out.post(join(t["address"], "transfers/request"), t["providerId"], message)
        with self.store.lock:
            if status == 201 and isinstance(reply, dict) and text(reply, "providerPid"):
                t["providerPid"] = t["providerPid"] or text(reply, "providerPid")
            elif t["state"] not in ("COMPLETED", "TERMINATED"):
                t["state"] = "TERMINATED"
                t["errorDetail"] = f"the provider answered the transfer request with {status}"

    def manage_transfer(self, t, action, reason):
        allowed, state, kind, path = {
            "suspend": (("STARTED",), "SUSPENDED", "TransferSuspensionMessage", "suspension"),
            "terminate": (("REQUESTED", "STARTED", "SUSPENDED"), "TERMINATED", "TransferTerminationMessage", "termination"),
            "resume": (("SUSPENDED",), None, "TransferStartMessage", "start"),
            "complete": (("STARTED",), "COMPLETED", "TransferCompletionMessage", "completion"),
        }[action]
        with self.store.lock:
            if t["state"] not in allowed:
                raise HttpError(409, f"transfer is {t['state']}")
            if state:
                t["state"] = state
        message = {"@context": [DSP_CONTEXT], "@type": kind, "providerPid": t["providerPid"], "consumerPid": t["consumerPid"]}
        if action in ("suspend", "terminate"):
            message["code"] = action
            message["reason"] = [reason]
        later(0, self.app.out.post, join(t["address"], f"transfers/{t['providerPid']}/{path}"), t["providerId"], message)

    # -- callbacks -----------------------------------------------------------------------

    def find_negotiation(self, cpid):
        n = self.store.consumer_negotiations.get(cpid)
        if n is None:
            raise HttpError(404, f"no negotiation {cpid}", CNE, (None, cpid))
        return n

    def check(self, body, kind, n, error=CNE):
        pids = (n["providerPid"], n["consumerPid"])
        if "@context" not in body:
            raise HttpError(400, "the message has no @context", error, pids)
        if type_of(body) != kind:
            raise HttpError(400, f"expected a {kind}", error, pids)
        if text(body, "consumerPid") != n["consumerPid"]:
            raise HttpError(400, "the message names another consumerPid", error, pids)
        ppid = text(body, "providerPid")
        with self.store.lock:
            if n["providerPid"] is None and ppid:
                n["providerPid"] = ppid
        if ppid != n["providerPid"]:
            raise HttpError(400, "the message names another providerPid", error, pids)

    def move(self, n, allowed, state, error=CNE):
        with self.store.lock:
            if n["state"] not in allowed and "accept-any-callback" not in self.faults:
                raise HttpError(400, f"cannot go from {n['state']} to {state}", error, (n["providerPid"], n["consumerPid"]))
            n["state"] = state

    def initial_offer(self, body, claims):
        if "@context" not in body or type_of(body) != "ContractOfferMessage":
            raise HttpError(400, "expected a ContractOfferMessage with @context", CNE)
        ppid = text(body, "providerPid")
        offer = field(body, "offer")
        callback = text(body, "callbackAddress")
        if not ppid or not isinstance(offer, dict) or not callback:
            raise HttpError(400, "an initial offer needs providerPid, offer and callbackAddress", CNE, (ppid, None))
        n = {"consumerPid": new_pid(), "providerPid": ppid, "state": "OFFERED", "address": callback,
             "providerId": self.app.participant_of(claims), "offer": offer, "agreement": None, "created": time.time()}
        with self.store.lock:
            self.store.consumer_negotiations[n["consumerPid"]] = n
        later(self.app.delay, self.accept, n["consumerPid"])
        return n

    def accept(self, cpid):
        n = self.store.consumer_negotiations[cpid]
        with self.store.lock:
            if n["state"] != "OFFERED":
                return
            n["state"] = "ACCEPTED"
        message = {"@context": [DSP_CONTEXT], "@type": "ContractNegotiationEventMessage", "providerPid": n["providerPid"],
                   "consumerPid": n["consumerPid"], "eventType": "ACCEPTED"}
        self.send_to_provider(n, "events", message)

    def negotiation_callback(self, n, what, body):
        if what == "offers":
            self.check(body, "ContractOfferMessage", n)
            if not isinstance(field(body, "offer"), dict):
                raise HttpError(400, "the offer message has no offer", CNE, (n["providerPid"], n["consumerPid"]))
            self.move(n, ("REQUESTED",), "OFFERED")
            n["offer"] = field(body, "offer")
            later(self.app.delay, self.accept, n["consumerPid"])
        elif what == "agreement":
            self.check(body, "ContractAgreementMessage", n)
            agreement = field(body, "agreement")
            if not isinstance(agreement, dict) or not agreement.get("@id") or not text(agreement, "target") \
                    or not text(agreement, "assigner") or not text(agreement, "assignee"):
                raise HttpError(400, "the agreement needs @id, target, assigner and assignee", CNE, (n["providerPid"], n["consumerPid"]))
            self.move(n, ("REQUESTED", "ACCEPTED"), "AGREED")
            n["agreement"] = agreement
            with self.store.lock:
                self.store.agreements[agreement["@id"]] = {"agreement": agreement, "negotiation": n, "role": "CONSUMER"}
            later(self.app.delay, self.verify, n["consumerPid"])
        elif what == "events":
            self.check(body, "ContractNegotiationEventMessage", n)
            event_type = (text(body, "eventType") or "").split(":")[-1].split("/")[-1]
            if event_type != "FINALIZED":
                raise HttpError(400, f"a provider sends no {event_type or 'undefined'} event", CNE, (n["providerPid"], n["consumerPid"]))
            self.move(n, ("VERIFIED",), "FINALIZED")
        elif what == "termination":
            self.check(body, "ContractNegotiationTerminationMessage", n)
            self.move(n, ("REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED"), "TERMINATED")
        else:
            raise HttpError(400, f"a consumer does not take {what} messages", CNE, (n["providerPid"], n["consumerPid"]))

    def find_transfer(self, cpid):
        t = self.store.consumer_transfers.get(cpid)
        if t is None:
            raise HttpError(404, f"no transfer process {cpid}", TE, (None, cpid))
        return t

    def transfer_callback(self, t, what, body):
        if what == "start":
            self.check(body, "TransferStartMessage", t, TE)
            address = field(body, "dataAddress")
            if address is not None and not (isinstance(address, dict) and text(address, "endpoint") and text(address, "endpointType")):
                raise HttpError(400, "the data address needs endpointType and endpoint", TE, (t["providerPid"], t["consumerPid"]))
            self.move(t, ("REQUESTED", "SUSPENDED"), "STARTED", TE)
            if address is not None:
                t["edr"] = address
        elif what == "completion":
            self.check(body, "TransferCompletionMessage", t, TE)
            self.move(t, ("STARTED",), "COMPLETED", TE)
        elif what == "suspension":
            self.check(body, "TransferSuspensionMessage", t, TE)
            self.move(t, ("STARTED",), "SUSPENDED", TE)
        elif what == "termination":
            self.check(body, "TransferTerminationMessage", t, TE)
            self.move(t, ("REQUESTED", "STARTED", "SUSPENDED"), "TERMINATED", TE)


ROUTES = [
    ("POST", re.compile(r"^/negotiations/offers$"), "initial_offer"),
    ("POST", re.compile(r"^/negotiations/(?P<id>[^/]+)/(?P<what>offers|agreement|events|termination|request|agreement/verification)$"), "negotiation_callback"),
    ("POST", re.compile(r"^/transfers/(?P<id>[^/]+)/(?P<what>start|completion|suspension|termination)$"), "transfer_callback"),
]
