"""The management API, shaped like Eclipse EDC's management API v3 (`X-Api-Key`, JSON-LD with
the EDC `@vocab`, `IdResponse` for creations, `QuerySpec` for queries): assets, policy and
contract definitions, catalog and dataset requests, contract negotiations and agreements,
transfer processes and the EDR of a started pull.
"""

import hmac
import re

from common import EDC_NS, Handler, HttpError, field, now_ms, text

CTX = {"@vocab": EDC_NS, "edc": EDC_NS, "odrl": "http://www.w3.org/ns/odrl/2/"}


def id_response(id_):
    return {"@context": CTX, "@type": "IdResponse", "@id": id_, "createdAt": now_ms()}


class ManagementHandler(Handler):
    def handle_request(self, method, path):
        app = self.app
        key = self.headers.get("X-Api-Key") or ""
        if not hmac.compare_digest(key.encode(), app.api_key.encode()):
            raise HttpError(401, "missing or wrong X-Api-Key")
        prefix = app.management_path
        if not path.startswith(prefix + "/"):
            raise HttpError(404, f"no route {path}")
        path = path[len(prefix):]
        for m, pattern, name in ROUTES:
            found = pattern.match(path)
            if found and m == method:
                return getattr(self, name)(**found.groupdict())
        raise HttpError(404, f"no route {method} {path}")

    def body(self):
        raw = self.read_body()
        if not raw.strip():
            return {}
        try:
            import json
            value = json.loads(raw)
        except Exception:  # noqa: BLE001
            raise HttpError(400, "the body is not JSON")
        if not isinstance(value, dict):
            raise HttpError(400, "the body is not a JSON object")
        return value

    # -- provider setup --------------------------------------------------------------------

    def create(self, table, body, required):
        id_ = body.get("@id")
        if not id_:
            import uuid
            id_ = str(uuid.uuid4())
        for name in required:
            if field(body, name) is None:
                raise HttpError(400, f"{name} is required")
        with self.app.store.lock:
            if id_ in table:
                raise HttpError(409, f"{id_} already exists")
            entry = {k.split(":")[-1].replace(EDC_NS, ""): v for k, v in body.items() if k != "@context"}
            entry["@id"] = id_
            table[id_] = entry
        self.send_json(200, id_response(id_))

    def create_asset(self):
        body = self.body()
        self.create(self.app.store.assets, body, ["dataAddress"])

    def create_policy(self):
        self.create(self.app.store.policies, self.body(), ["policy"])

    def create_definition(self):
        body = self.body()
        body = {**body, "accessPolicyId": text(body, "accessPolicyId"), "contractPolicyId": text(body, "contractPolicyId"),
                "assetsSelector": field(body, "assetsSelector") or []}
        self.create(self.app.store.definitions, body, ["accessPolicyId", "contractPolicyId"])

    def get_entity(self, table, id):
        from urllib.parse import unquote
        entry = table.get(unquote(id))
        if entry is None:
            raise HttpError(404, f"no {id}")
        self.send_json(200, {"@context": CTX, **entry})

    def get_asset(self, id):
        self.get_entity(self.app.store.assets, id)

    def query_assets(self):
        # EDC's QuerySpec paging (offset, limit); filters are not needed by any client here.
        body = self.body()
        offset = int(field(body, "offset") or 0)
        limit = int(field(body, "limit") or 50)
        docs = [{"@context": CTX, **a} for a in list(self.app.store.assets.values())]
        self.send_json(200, docs[offset:offset + limit])

    # -- catalog ---------------------------------------------------------------------------

    def catalog_request(self):
        body = self.body()
        address = text(body, "counterPartyAddress")
        if not address:
            raise HttpError(400, "counterPartyAddress is required")
        self.send_json(200, self.app.consumer.request_catalog(address, text(body, "counterPartyId"), None))

    def dataset_request(self):
        body = self.body()
        address = text(body, "counterPartyAddress")
        if not address or not body.get("@id"):
            raise HttpError(400, "counterPartyAddress and @id are required")
        self.send_json(200, self.app.consumer.request_dataset(address, text(body, "counterPartyId"), body["@id"]))

    # -- negotiations ----------------------------------------------------------------------

    def negotiation(self, id):
        from urllib.parse import unquote
        id = unquote(id)
        store = self.app.store
        n = store.consumer_negotiations.get(id)
        if n is not None:
            return n, "CONSUMER"
        n = store.provider_negotiations.get(id)
        if n is not None:
            return n, "PROVIDER"
        raise HttpError(404, f"no contract negotiation {id}")

    def negotiation_doc(self, n, role):
        id_ = n["consumerPid"] if role == "CONSUMER" else n["providerPid"]
        doc = {"@context": CTX, "@type": "ContractNegotiation", "@id": id_, "type": role, "protocol": "dataspace-protocol-http:2025-1",
               "state": n["state"], "counterPartyId": n.get("providerId") if role == "CONSUMER" else n.get("consumerId"),
               "counterPartyAddress": n.get("address") if role == "CONSUMER" else n.get("callback"),
               "createdAt": int(n["created"] * 1000)}
        if n.get("agreement"):
            doc["contractAgreementId"] = n["agreement"]["@id"]
        if n.get("errorDetail"):
            doc["errorDetail"] = n["errorDetail"]
        return doc

    def agreement_doc(self, entry):
        agreement = entry["agreement"]
        n = entry["negotiation"]
        policy = {k: v for k, v in agreement.items() if k not in ("@id", "timestamp")}
        policy["@type"] = "odrl:Agreement"
        return {"@context": CTX, "@type": "ContractAgreement", "@id": agreement["@id"], "assetId": agreement.get("target"),
                "policy": policy, "consumerId": agreement.get("assignee"), "providerId": agreement.get("assigner"),
                "contractSigningDate": int(n["created"])}

    def start_negotiation(self):
        body = self.body()
        address = text(body, "counterPartyAddress")
        policy = field(body, "policy")
        if not address or not isinstance(policy, dict):
            raise HttpError(400, "counterPartyAddress and policy are required")
        n = self.app.consumer.start_negotiation(address, text(body, "counterPartyId"), policy)
        self.send_json(200, id_response(n["consumerPid"]))

    def get_negotiation(self, id):
        n, role = self.negotiation(id)
        self.send_json(200, self.negotiation_doc(n, role))

    def negotiation_state(self, id):
        n, _ = self.negotiation(id)
        self.send_json(200, {"@context": CTX, "@type": "NegotiationState", "state": n["state"]})

    def negotiation_agreement(self, id):
        n, _ = self.negotiation(id)
        if not n.get("agreement"):
            raise HttpError(404, "the negotiation has no agreement")
        self.send_json(200, self.agreement_doc(self.app.store.agreements[n["agreement"]["@id"]]))

    def terminate_negotiation(self, id):
        body = self.body()
        n, role = self.negotiation(id)
        reason = text(body, "reason") or "terminated through the management api"
        if role == "CONSUMER":
            self.app.consumer.terminate_negotiation(n, reason)
        else:
            try:
                self.app.provider.terminate_negotiation(n, reason)
            except HttpError as e:
                raise HttpError(409, e.reason)
        self.send_json(204, None)

    def query_negotiations(self):
        self.body()
        store = self.app.store
        docs = [self.negotiation_doc(n, "CONSUMER") for n in list(store.consumer_negotiations.values())]
        docs += [self.negotiation_doc(n, "PROVIDER") for n in list(store.provider_negotiations.values())]
        self.send_json(200, docs)

    def get_agreement(self, id):
        from urllib.parse import unquote
        entry = self.app.store.agreements.get(unquote(id))
        if entry is None:
            raise HttpError(404, f"no contract agreement {id}")
        self.send_json(200, self.agreement_doc(entry))

    def query_agreements(self):
        self.body()
        self.send_json(200, [self.agreement_doc(e) for e in list(self.app.store.agreements.values())])

    # -- transfers -------------------------------------------------------------------------

    def transfer(self, id):
        from urllib.parse import unquote
        id = unquote(id)
        store = self.app.store
        t = store.consumer_transfers.get(id)
        if t is not None:
            return t, "CONSUMER"
        t = store.provider_transfers.get(id)
        if t is not None:
            return t, "PROVIDER"
        raise HttpError(404, f"no transfer process {id}")

    def transfer_doc(self, t, role):
        id_ = t["consumerPid"] if role == "CONSUMER" else t["providerPid"]
        doc = {"@context": CTX, "@type": "TransferProcess", "@id": id_, "type": role, "state": t["state"],
               "contractId": t["agreementId"], "assetId": t.get("asset"), "transferType": t.get("format"),
               "protocol": "dataspace-protocol-http:2025-1", "correlationId": t["providerPid"] if role == "CONSUMER" else t["consumerPid"],
               "stateTimestamp": now_ms()}
        if t.get("errorDetail"):
            doc["errorDetail"] = t["errorDetail"]
        return doc

    def start_transfer(self):
        body = self.body()
        agreement = text(body, "contractId")
        transfer_type = text(body, "transferType")
        if not agreement or not transfer_type:
            raise HttpError(400, "contractId and transferType are required")
        t = self.app.consumer.start_transfer(text(body, "counterPartyAddress"), agreement, transfer_type, field(body, "dataDestination"))
        self.send_json(200, id_response(t["consumerPid"]))

    def get_transfer(self, id):
        t, role = self.transfer(id)
        self.send_json(200, self.transfer_doc(t, role))

    def transfer_state(self, id):
        t, _ = self.transfer(id)
        self.send_json(200, {"@context": CTX, "@type": "TransferState", "state": t["state"]})

    def transfer_action(self, id, action):
        body = self.body()
        t, role = self.transfer(id)
        reason = text(body, "reason") or f"{action} through the management api"
        if role == "CONSUMER":
            self.app.consumer.manage_transfer(t, action, reason)
        elif action == "complete":
            raise HttpError(400, "a provider completes a pull transfer when the consumer says so")
        else:
            self.app.provider.manage_transfer(t, action, reason)
        self.send_json(204, None)

    def query_transfers(self):
        self.body()
        store = self.app.store
        docs = [self.transfer_doc(t, "CONSUMER") for t in list(store.consumer_transfers.values())]
        docs += [self.transfer_doc(t, "PROVIDER") for t in list(store.provider_transfers.values())]
        self.send_json(200, docs)

    def edr(self, id):
        t, role = self.transfer(id)
        if role != "CONSUMER" or not t.get("edr"):
            raise HttpError(404, f"no EDR for transfer {id}")
        address = t["edr"]
        doc = {"@context": CTX, "@type": "DataAddress", "type": text(address, "endpointType"), "endpointType": text(address, "endpointType"),
               "endpoint": text(address, "endpoint")}
        for prop in field(address, "endpointProperties") or []:
            name = (text(prop, "name") or "").split("/")[-1].split(":")[-1]
            if name:
                doc[name] = field(prop, "value")
        self.send_json(200, doc)


ROUTES = [
    ("POST", re.compile(r"^/v3/assets$"), "create_asset"),
    ("POST", re.compile(r"^/v3/assets/request$"), "query_assets"),
    ("GET", re.compile(r"^/v3/assets/(?P<id>[^/]+)$"), "get_asset"),
    ("POST", re.compile(r"^/v3/policydefinitions$"), "create_policy"),
    ("POST", re.compile(r"^/v3/contractdefinitions$"), "create_definition"),
    ("POST", re.compile(r"^/v3/catalog/request$"), "catalog_request"),
    ("POST", re.compile(r"^/v3/catalog/dataset/request$"), "dataset_request"),
    ("POST", re.compile(r"^/v3/contractnegotiations$"), "start_negotiation"),
    ("POST", re.compile(r"^/v3/contractnegotiations/request$"), "query_negotiations"),
    ("GET", re.compile(r"^/v3/contractnegotiations/(?P<id>[^/]+)$"), "get_negotiation"),
    ("GET", re.compile(r"^/v3/contractnegotiations/(?P<id>[^/]+)/state$"), "negotiation_state"),
    ("GET", re.compile(r"^/v3/contractnegotiations/(?P<id>[^/]+)/agreement$"), "negotiation_agreement"),
    ("POST", re.compile(r"^/v3/contractnegotiations/(?P<id>[^/]+)/terminate$"), "terminate_negotiation"),
    ("POST", re.compile(r"^/v3/contractagreements/request$"), "query_agreements"),
    ("GET", re.compile(r"^/v3/contractagreements/(?P<id>[^/]+)$"), "get_agreement"),
    ("POST", re.compile(r"^/v3/transferprocesses$"), "start_transfer"),
    ("POST", re.compile(r"^/v3/transferprocesses/request$"), "query_transfers"),
    ("GET", re.compile(r"^/v3/transferprocesses/(?P<id>[^/]+)$"), "get_transfer"),
    ("GET", re.compile(r"^/v3/transferprocesses/(?P<id>[^/]+)/state$"), "transfer_state"),
    ("POST", re.compile(r"^/v3/transferprocesses/(?P<id>[^/]+)/(?P<action>suspend|resume|terminate|complete)$"), "transfer_action"),
    ("GET", re.compile(r"^/v3/edrs/(?P<id>[^/]+)/dataaddress$"), "edr"),
]
