"""The provider role of the DSP 2025-1 HTTPS binding: catalog and dataset requests, the
provider's contract-negotiation state machine (it agrees and finalizes on its own, as EDC
does), and its transfer-process state machine (it starts pull transfers on its own and hands
out a per-transfer data-plane token, revoked whenever the transfer leaves STARTED).

States and allowed transitions follow the specification's state diagrams:
negotiation REQUESTED/OFFERED/ACCEPTED/AGREED/VERIFIED/FINALIZED/TERMINATED and transfer
REQUESTED/STARTED/SUSPENDED/COMPLETED/TERMINATED.
"""

import re
import secrets
import time

from common import DSP_CONTEXT, HttpError, field, join, later, text, type_of
from store import new_pid

CNE = "ContractNegotiationError"
TE = "TransferError"
CE = "CatalogError"
EVENT_TYPES = ("ACCEPTED", "FINALIZED")


def strip_context(policy):
    return {k: v for k, v in policy.items() if k != "@context"} if isinstance(policy, dict) else policy


class Provider:
    def __init__(self, app):
        self.app = app
        self.store = app.store
        self.faults = app.faults

    # -- catalog -------------------------------------------------------------------------

    def offers_for(self, asset_id):
        offers = []
        for definition in self.store.definitions.values():
            if not self.selects(definition, asset_id):
                continue
            policy = self.store.policies.get(definition["contractPolicyId"])
            if policy is None:
                continue
            offer = {"@id": f"urn:offer:{definition['@id']}:{asset_id}", "@type": "Offer"}
            body = strip_context(policy["policy"])
            for rule in ("permission", "prohibition", "obligation"):
                value = field(body, rule)
                if value is not None:
                    offer[rule] = value if isinstance(value, list) else [value]
            if not any(k in offer for k in ("permission", "prohibition")):
                offer["permission"] = [{"action": "use"}]
            offers.append(offer)
        return offers

    @staticmethod
    def selects(definition, asset_id):
        criteria = definition.get("assetsSelector") or []
        if isinstance(criteria, dict):
            criteria = [criteria]
        for c in criteria:
            left = text(c, "operandLeft") or ""
            if left.split("/")[-1].split(":")[-1] == "id" and text(c, "operator") in ("=", "eq") and field(c, "operandRight") != asset_id:
                return False
            if text(c, "operator") == "in" and asset_id not in (field(c, "operandRight") or []):
                return False
        return True

    def service(self):
        return {"@id": "urn:service:" + self.app.participant_id, "@type": "DataService", "endpointURL": self.app.dsp_url}

    def dataset(self, asset_id, inline_service):
        offers = self.offers_for(asset_id)
        if not offers:
            return None
        access = self.service() if inline_service else self.service()["@id"]
        dataset = {"@id": asset_id, "@type": "Dataset", "hasPolicy": offers,
                   "distribution": [{"@type": "Distribution", "format": "HttpData-PULL", "accessService": access}]}
        return dataset

    def catalog(self, body):
        if type_of(body) != "CatalogRequestMessage":
            raise HttpError(400, "expected a CatalogRequestMessage", CE)
        if "@context" not in body:
            raise HttpError(400, "the message has no @context", CE)
        # A filter is implementation-defined (DSP 2025-1, catalog protocol): this provider
        # ignores it and answers its whole catalog.
        datasets = [d for d in (self.dataset(a, False) for a in sorted(self.store.assets)) if d]
        kind = "DataCatalog" if "catalog-wrong-type" in self.faults else "Catalog"
        return {"@context": [DSP_CONTEXT], "@id": "urn:catalog:" + self.app.participant_id, "@type": kind,
                "participantId": self.app.participant_id, "service": [self.service()], "dataset": datasets}

    def get_dataset(self, asset_id):
        dataset = self.dataset(asset_id, True) if asset_id in self.store.assets else None
        if dataset is None:
            if "unknown-dataset-200" in self.faults:
                return {"@context": [DSP_CONTEXT], "@id": asset_id, "@type": "Dataset", "hasPolicy": [{"@id": "x", "@type": "Offer", "permission": [{"action": "use"}]}]}
            raise HttpError(404, f"no dataset {asset_id}", CE)
        dataset["@context"] = [DSP_CONTEXT]
        return dataset

    # -- negotiations --------------------------------------------------------------------

    def negotiation_doc(self, n):
        return {"@context": [DSP_CONTEXT], "@type": "ContractNegotiation", "providerPid": n["providerPid"],
                "consumerPid": n["consumerPid"], "state": n["state"]}

    def find_negotiation(self, pid):
        n = self.store.provider_negotiations.get(pid)
        if n is None:
            if "unknown-pid-200" in self.faults:
                raise HttpError(400, f"no negotiation {pid}", CNE, (pid, None))
            raise HttpError(404, f"no negotiation {pid}", CNE, (pid, None))
        return n

    def check_message(self, body, kind, n, error=CNE):
        pids = (n["providerPid"], n["consumerPid"]) if n else (None, None)
        if "@context" not in body:
            raise HttpError(400, "the message has no @context", error, pids)
        if type_of(body) != kind:
            raise HttpError(400, f"expected a {kind}", error, pids)
        if n is not None:
            if text(body, "providerPid") != n["providerPid"] or text(body, "consumerPid") != n["consumerPid"]:
                if "ignore-pids" not in self.faults:
                    raise HttpError(400, "the message names other pids than the process", error, pids)

    def transition(self, n, allowed, new_state, error=CNE):
        pids = (n["providerPid"], n["consumerPid"])
        with self.store.lock:
            if n["state"] not in allowed:
                raise HttpError(400, f"cannot go from {n['state']} to {new_state}", error, pids)
            n["state"] = new_state

    def initial_request(self, body, claims):
        if "@context" not in body or type_of(body) != "ContractRequestMessage":
            raise HttpError(400, "expected a ContractRequestMessage with @context", CNE)
        consumer_pid = text(body, "consumerPid")
        offer = field(body, "offer")
        callback = text(body, "callbackAddress")
        if not consumer_pid:
            raise HttpError(400, "the request has no consumerPid", CNE)
        if not isinstance(offer, dict):
            raise HttpError(400, "the request has no offer", CNE, (None, consumer_pid))
        if not callback:
            raise HttpError(400, "an initial request needs a callbackAddress", CNE, (None, consumer_pid))
        offer_id = offer.get("@id")
        target = text(offer, "target")
        known = None
        for asset_id in self.store.assets:
            for candidate in self.offers_for(asset_id):
                if candidate["@id"] == offer_id:
                    known = (asset_id, candidate)
        if known is None or (target and target != known[0]):
            raise HttpError(400, f"no offer {offer_id} for {target}", CNE, (None, consumer_pid))
        n = {"providerPid": new_pid(), "consumerPid": consumer_pid, "state": "REQUESTED", "callback": callback,
             "asset": known[0], "offer": known[1], "consumerId": self.app.participant_of(claims), "agreement": None,
             "created": time.time()}
        with self.store.lock:
            self.store.provider_negotiations[n["providerPid"]] = n
        later(self.app.delay, self.agree, n["providerPid"])
        return n

    def agree(self, pid):
        n = self.store.provider_negotiations[pid]
        if "never-agree" in self.faults:
            return
        with self.store.lock:
            if n["state"] not in ("REQUESTED", "ACCEPTED"):
                return
            n["state"] = "AGREED"
            agreement = {"@id": new_pid(), "@type": "Agreement", "target": n["asset"],
                         "assigner": self.app.participant_id, "assignee": n["consumerId"],
                         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            for rule in ("permission", "prohibition", "obligation"):
                if rule in n["offer"]:
                    agreement[rule] = n["offer"][rule]
            if "agreement-wrong-target" in self.faults:
                agreement["target"] = "urn:uuid:not-the-dataset"
            n["agreement"] = agreement
            self.store.agreements[agreement["@id"]] = {"agreement": agreement, "negotiation": n, "role": "PROVIDER"}
        message = {"@context": [DSP_CONTEXT], "@type": "ContractAgreementMessage", "providerPid": n["providerPid"],
                   "consumerPid": n["consumerPid"], "agreement": agreement, "callbackAddress": self.app.dsp_url}
        status, _ = self.app.out.post(join(n["callback"], f"negotiations/{n['consumerPid']}/agreement"), n["consumerId"], message)
        if status >= 300:
            self.fail_negotiation(n, f"the consumer refused the agreement with {status}")

    def fail_negotiation(self, n, reason):
        with self.store.lock:
            if n["state"] not in ("FINALIZED", "TERMINATED"):
                n["state"] = "TERMINATED"
                n["errorDetail"] = reason

    def finalize(self, pid):
        n = self.store.provider_negotiations[pid]
        with self.store.lock:
            if n["state"] != "VERIFIED":
                return
            n["state"] = "FINALIZED"
        message = {"@context": [DSP_CONTEXT], "@type": "ContractNegotiationEventMessage", "providerPid": n["providerPid"],
                   "consumerPid": n["consumerPid"], "eventType": "FINALIZED"}
        self.app.out.post(join(n["callback"], f"negotiations/{n['consumerPid']}/events"), n["consumerId"], message)

    def counter_request(self, n, body):
        self.check_message(body, "ContractRequestMessage", n)
        if not isinstance(field(body, "offer"), dict):
            raise HttpError(400, "the request has no offer", CNE, (n["providerPid"], n["consumerPid"]))
        self.transition(n, ("OFFERED",), "REQUESTED")
        later(self.app.delay, self.agree, n["providerPid"])

    def event(self, n, body):
        self.check_message(body, "ContractNegotiationEventMessage", n)
        event_type = (text(body, "eventType") or "").split(":")[-1].split("/")[-1]
        if event_type not in EVENT_TYPES:
            raise HttpError(400, f"undefined eventType {event_type!r}", CNE, (n["providerPid"], n["consumerPid"]))
        if event_type != "ACCEPTED":
            raise HttpError(400, "a consumer sends no FINALIZED event", CNE, (n["providerPid"], n["consumerPid"]))
        self.transition(n, ("OFFERED",), "ACCEPTED")
        later(self.app.delay, self.agree, n["providerPid"])

    def verification(self, n, body):
        self.check_message(body, "ContractAgreementVerificationMessage", n)
        allowed = ("AGREED", "FINALIZED") if "verify-anytime" in self.faults else ("AGREED",)
        self.transition(n, allowed, "VERIFIED")
        later(self.app.delay, self.finalize, n["providerPid"])

    def termination(self, n, body):
        self.check_message(body, "ContractNegotiationTerminationMessage", n)
        allowed = ("REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED")
        if "terminate-finalized" in self.faults:
            allowed += ("FINALIZED",)
        self.transition(n, allowed, "TERMINATED")

    def terminate_negotiation(self, n, reason):
        """The management API's terminate: end it here, then tell the consumer."""
        self.transition(n, ("REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED"), "TERMINATED")
        message = {"@context": [DSP_CONTEXT], "@type": "ContractNegotiationTerminationMessage", "providerPid": n["providerPid"],
                   "consumerPid": n["consumerPid"], "code": "terminated", "reason": [reason]}
        later(0, self.app.out.post, join(n["callback"], f"negotiations/{n['consumerPid']}/termination"), n["consumerId"], message)

    # -- transfers -----------------------------------------------------------------------

    def transfer_doc(self, t):
        return {"@context": [DSP_CONTEXT], "@type": "TransferProcess", "providerPid": t["providerPid"],
                "consumerPid": t["consumerPid"], "state": t["state"]}

    def find_transfer(self, pid):
        t = self.store.provider_transfers.get(pid)
        if t is None:
            raise HttpError(404, f"no transfer process {pid}", TE, (pid, None))
        return t

    def transfer_request(self, body, claims):
        if "@context" not in body or type_of(body) != "TransferRequestMessage":
            raise HttpError(400, "expected a TransferRequestMessage with @context", TE)
        consumer_pid = text(body, "consumerPid")
        agreement_id = text(body, "agreementId")
        callback = text(body, "callbackAddress")
        transfer_format = text(body, "format") or ""
        pids = (None, consumer_pid)
        if not consumer_pid:
            raise HttpError(400, "the request has no consumerPid", TE)
        if not agreement_id:
            raise HttpError(400, "the request has no agreementId", TE, pids)
        if not callback:
            raise HttpError(400, "the request has no callbackAddress", TE, pids)
        entry = self.store.agreements.get(agreement_id)
        if entry is None or entry["role"] != "PROVIDER":
            raise HttpError(400, f"no agreement {agreement_id}", TE, pids)
        if entry["negotiation"]["state"] != "FINALIZED" and "transfer-unfinalized" not in self.faults:
            raise HttpError(400, f"agreement {agreement_id} is not finalized", TE, pids)
        if "PULL" not in transfer_format.upper():
            raise HttpError(400, f"format {transfer_format!r} is not offered; this provider offers HttpData-PULL", TE, pids)
        t = {"providerPid": new_pid(), "consumerPid": consumer_pid, "state": "REQUESTED", "callback": callback,
             "agreementId": agreement_id, "asset": entry["agreement"]["target"], "format": transfer_format,
             "consumerId": self.app.participant_of(claims), "token": None, "created": time.time()}
        with self.store.lock:
            self.store.provider_transfers[t["providerPid"]] = t
        later(self.app.delay, self.start_transfer, t["providerPid"], ("REQUESTED",))
        return t

    def issue_token(self, t):
        with self.store.lock:
            if t["token"]:
                self.store.tokens.pop(t["token"], None)
            token = secrets.token_urlsafe(24)
            t["token"] = token
            self.store.tokens[token] = t["providerPid"]
        return token

    def revoke_token(self, t):
        if "keep-token" in self.faults:
            return
        with self.store.lock:
            if t["token"]:
                self.store.tokens.pop(t["token"], None)

    def start_transfer(self, pid, allowed):
        t = self.store.provider_transfers[pid]
        with self.store.lock:
            if t["state"] not in allowed:
                return False
            t["state"] = "STARTED"
        token = self.issue_token(t)
        address = {"@type": "DataAddress", "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
                   "endpoint": self.app.public_url + "/" + t["providerPid"],
                   "endpointProperties": [{"@type": "EndpointProperty", "name": "authorization", "value": token},
                                          {"@type": "EndpointProperty", "name": "authType", "value": "bearer"}]}
        message = {"@context": [DSP_CONTEXT], "@type": "TransferStartMessage", "providerPid": t["providerPid"],
                   "consumerPid": t["consumerPid"], "dataAddress": address}
        self.app.out.post(join(t["callback"], f"transfers/{t['consumerPid']}/start"), t["consumerId"], message)
        return True

    def transfer_message(self, t, body, kind):
        self.check_message(body, kind, t, TE)

    def transfer_transition(self, t, allowed, new_state):
        with self.store.lock:
            if t["state"] not in allowed:
                raise HttpError(400, f"cannot go from {t['state']} to {new_state}", TE, (t["providerPid"], t["consumerPid"]))
            t["state"] = new_state
        if new_state != "STARTED":
            self.revoke_token(t)

    def consumer_start(self, t, body):
        """The consumer restarts a suspended transfer: STARTED again, and the token it was
        given works again (the consumer holds no other data address)."""
        self.transfer_message(t, body, "TransferStartMessage")
        self.transfer_transition(t, ("SUSPENDED",), "STARTED")
        with self.store.lock:
            if t["token"]:
                self.store.tokens[t["token"]] = t["providerPid"]

    def completion(self, t, body):
        self.transfer_message(t, body, "TransferCompletionMessage")
        self.transfer_transition(t, ("STARTED",), "COMPLETED")

    def suspension(self, t, body):
        self.transfer_message(t, body, "TransferSuspensionMessage")
        self.transfer_transition(t, ("STARTED",), "SUSPENDED")

    def transfer_termination(self, t, body):
        self.transfer_message(t, body, "TransferTerminationMessage")
        self.transfer_transition(t, ("REQUESTED", "STARTED", "SUSPENDED"), "TERMINATED")

    def manage_transfer(self, t, action, reason):
        """The management API's suspend, resume and terminate of a provider transfer."""
        if action == "resume":
            with self.store.lock:
                if t["state"] != "SUSPENDED":
                    raise HttpError(409, f"transfer is {t['state']}, not SUSPENDED")
            later(0, self.start_transfer, t["providerPid"], ("SUSPENDED",))
            return
        kind, allowed, state, path = {
            "suspend": ("TransferSuspensionMessage", ("STARTED",), "SUSPENDED", "suspension"),
            "terminate": ("TransferTerminationMessage", ("REQUESTED", "STARTED", "SUSPENDED"), "TERMINATED", "termination"),
        }[action]
        try:
            self.transfer_transition(t, allowed, state)
        except HttpError as e:
            raise HttpError(409, e.reason)
        message = {"@context": [DSP_CONTEXT], "@type": kind, "providerPid": t["providerPid"], "consumerPid": t["consumerPid"],
                   "code": action, "reason": [reason]}
        later(0, self.app.out.post, join(t["callback"], f"transfers/{t['consumerPid']}/{path}"), t["consumerId"], message)


ROUTES = [
    ("POST", re.compile(r"^/catalog/request$"), "catalog"),
    ("GET", re.compile(r"^/catalog/datasets/(?P<id>[^/]+)$"), "dataset"),
    ("POST", re.compile(r"^/negotiations/request$"), "negotiation_request"),
    ("GET", re.compile(r"^/negotiations/(?P<id>[^/]+)$"), "negotiation_get"),
    ("POST", re.compile(r"^/negotiations/(?P<id>[^/]+)/(?P<what>request|events|agreement/verification|termination|agreement|offers)$"), "negotiation_message"),
    ("POST", re.compile(r"^/transfers/request$"), "transfer_request"),
    ("GET", re.compile(r"^/transfers/(?P<id>[^/]+)$"), "transfer_get"),
    ("POST", re.compile(r"^/transfers/(?P<id>[^/]+)/(?P<what>start|completion|suspension|termination)$"), "transfer_message"),
]
