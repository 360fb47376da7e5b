"""The management API as Tractus-X EDC 0.4.1 (EDC 0.1.0) shapes it, for `--management v2`:
`/management/v2/...`, `X-Api-Key`, every term `edc:`-prefixed in what it answers, and the
0.4.1 request bodies -- an asset is an `edc:asset` beside an `edc:dataAddress`, a catalog
request names `edc:providerUrl`, a negotiation `edc:connectorAddress` and an `edc:offer`
(`edc:offerId`, `edc:assetId`, `edc:policy`), a transfer `edc:connectorAddress`,
`edc:contractId`, `edc:assetId` and an `edc:dataDestination` (`HttpProxy`: a pull whose EDR
comes from the adapter at `/management/adapter/edrs/{transferProcessId}`). Negotiations end by
`/cancel`; there is no dataset request, no suspend, no resume.

The processes behind it are the connector's own (the same store, provider and consumer as the
v3 API); only what goes over this API differs.
"""

import re
import uuid

from common import EDC_NS, HttpError, field, now_ms, text
from management import ManagementHandler

# 0.4.1 compacts its answers with the edc prefix, not with a vocabulary.
CONTEXT = {"edc": EDC_NS, "odrl": "http://www.w3.org/ns/odrl/2/", "dct": "http://purl.org/dc/terms/"}
PROTOCOL = "dataspace-protocol-http"


def edc(doc):
    """`doc` with each plain member written as an `edc:` term, as 0.4.1 answers."""
    out = {}
    for key, value in doc.items():
        out[key if key.startswith("@") or ":" in key else "edc:" + key] = value
    return out


def plain(obj):
    """The members of a request object without their `edc:`/IRI spelling, for storing."""
    if not isinstance(obj, dict):
        return obj
    out = {}
    for key, value in obj.items():
        if key == "@context":
            continue
        if key.startswith(EDC_NS):
            key = key[len(EDC_NS):]
        elif key.startswith("edc:"):
            key = key[4:]
        out[key] = value
    return out


class ManagementV2Handler(ManagementHandler):
    def handle_request(self, method, path):
        import hmac
        key = self.headers.get("X-Api-Key") or ""
        if not hmac.compare_digest(key.encode(), self.app.api_key.encode()):
            raise HttpError(401, "missing or wrong X-Api-Key")
        prefix = self.app.management_path
        if not path.startswith(prefix + "/"):
            raise HttpError(404, f"no route {path}")
        rest = path[len(prefix):]
        for m, pattern, name in ROUTES_V2:
            found = pattern.match(rest)
            if found and m == method:
                return getattr(self, name)(**found.groupdict())
        raise HttpError(404, f"no route {method} {rest}")

    def created(self, id_):
        self.send_json(200, {"@context": CONTEXT, "@type": "edc:IdResponseDto", "@id": id_, "edc:createdAt": now_ms()})

    def insert(self, table, id_, entry):
        with self.app.store.lock:
            if id_ in table:
                raise HttpError(409, f"{id_} already exists")
            table[id_] = entry
        self.created(id_)

    # -- provider setup --------------------------------------------------------------------

    def v2_create_asset(self):
        body = self.body()
        asset = field(body, "asset")
        address = field(body, "dataAddress")
        if not isinstance(asset, dict) or not isinstance(address, dict):
            # The v3 placement (properties and dataAddress at the top) is not 0.4.1's.
            raise HttpError(400, "edc:asset and edc:dataAddress are required")
        id_ = asset.get("@id") or str(uuid.uuid4())
        entry = {"@id": id_, "properties": plain(field(asset, "properties") or {}), "dataAddress": plain(address)}
        self.insert(self.app.store.assets, id_, entry)

    def v2_create_policy(self):
        body = self.body()
        policy = field(body, "policy")
        if not isinstance(policy, dict):
            raise HttpError(400, "edc:policy is required")
        id_ = body.get("@id") or str(uuid.uuid4())
        self.insert(self.app.store.policies, id_, {"@id": id_, "policy": policy})

    def v2_create_definition(self):
        body = self.body()
        access, contract = text(body, "accessPolicyId"), text(body, "contractPolicyId")
        if not access or not contract:
            raise HttpError(400, "edc:accessPolicyId and edc:contractPolicyId are required")
        criteria = field(body, "assetsSelector") or []
        if isinstance(criteria, dict):
            criteria = [criteria]
        id_ = body.get("@id") or str(uuid.uuid4())
        entry = {"@id": id_, "accessPolicyId": access, "contractPolicyId": contract, "assetsSelector": [plain(c) for c in criteria]}
        self.insert(self.app.store.definitions, id_, entry)

    def v2_get_asset(self, id):
        from urllib.parse import unquote
        entry = self.app.store.assets.get(unquote(id))
        if entry is None:
            raise HttpError(404, f"no asset {id}")
        self.send_json(200, {"@context": CONTEXT, "@type": "edc:Asset", "@id": entry["@id"], "edc:properties": edc(entry["properties"])})

    def v2_query_assets(self):
        self.body()
        docs = [{"@context": CONTEXT, "@type": "edc:Asset", "@id": a["@id"], "edc:properties": edc(a.get("properties") or {})}
                for a in list(self.app.store.assets.values())]
        self.send_json(200, docs)

    # -- catalog ---------------------------------------------------------------------------

    def v2_catalog(self):
        body = self.body()
        provider = text(body, "providerUrl")
        if not provider:
            raise HttpError(400, "edc:providerUrl is required")
        # 0.4.1 names no counter-party id: the DAT's audience is the provider's URL anyway.
        self.send_json(200, self.app.consumer.request_catalog(provider, None, None))

    # -- negotiations ----------------------------------------------------------------------

    def v2_negotiation_doc(self, n, role):
        doc = self.negotiation_doc(n, role)
        doc = {k: v for k, v in doc.items() if k != "@context"}
        doc["@type"] = "edc:ContractNegotiationDto"
        doc["protocol"] = PROTOCOL
        return {"@context": CONTEXT, **edc(doc)}

    def v2_start_negotiation(self):
        body = self.body()
        address = text(body, "connectorAddress")
        offer = field(body, "offer")
        policy = field(offer, "policy") if isinstance(offer, dict) else None
        if not address or not isinstance(policy, dict):
            raise HttpError(400, "edc:connectorAddress and edc:offer with edc:policy are required")
        policy = dict(policy)
        # The offer's id and asset travel beside the policy in 0.4.1; DSP wants them in it.
        policy["@id"] = text(offer, "offerId") or policy.get("@id")
        if not policy.get("target") and text(offer, "assetId"):
            policy["target"] = text(offer, "assetId")
        n = self.app.consumer.start_negotiation(address, text(body, "providerId") or text(body, "connectorId"), policy)
        self.created(n["consumerPid"])

    def v2_get_negotiation(self, id):
        n, role = self.negotiation(id)
        self.send_json(200, self.v2_negotiation_doc(n, role))

    def v2_negotiation_state(self, id):
        n, _ = self.negotiation(id)
        self.send_json(200, {"@context": CONTEXT, "@type": "edc:NegotiationState", "edc:state": n["state"]})

    def v2_agreement_doc(self, entry):
        doc = self.agreement_doc(entry)
        doc = {k: v for k, v in doc.items() if k != "@context"}
        doc["@type"] = "edc:ContractAgreementDto"
        return {"@context": CONTEXT, **edc(doc)}

    def v2_negotiation_agreement(self, id):
        n, _ = self.negotiation(id)
        if not n.get("agreement"):
            raise HttpError(404, "the negotiation has no agreement")
        self.send_json(200, self.v2_agreement_doc(self.app.store.agreements[n["agreement"]["@id"]]))

    def v2_cancel_negotiation(self, id):
        self.read_body()
        n, role = self.negotiation(id)
        reason = "cancelled through the management api"
        if role == "CONSUMER":
            self.app.consumer.terminate_negotiation(n, reason)
        else:
            try:
                self.app.provider.terminate_negotiation(n, reason)
            except HttpError as e:
                raise HttpError(409, e.reason)
        self.send_json(204, None)

    def v2_query_negotiations(self):
        self.body()
        store = self.app.store
        docs = [self.v2_negotiation_doc(n, "CONSUMER") for n in list(store.consumer_negotiations.values())]
        docs += [self.v2_negotiation_doc(n, "PROVIDER") for n in list(store.provider_negotiations.values())]
        self.send_json(200, docs)

    def v2_get_agreement(self, id):
        from urllib.parse import unquote
        entry = self.app.store.agreements.get(unquote(id))
        if entry is None:
            raise HttpError(404, f"no contract agreement {id}")
        self.send_json(200, self.v2_agreement_doc(entry))

    # -- transfers -------------------------------------------------------------------------

    def v2_transfer_doc(self, t, role):
        id_ = t["consumerPid"] if role == "CONSUMER" else t["providerPid"]
        doc = {"@type": "edc:TransferProcessDto", "@id": id_, "type": role, "state": t["state"], "stateTimestamp": now_ms(),
               "dataRequest": edc({"assetId": t.get("asset"), "contractId": t["agreementId"], "connectorId": t.get("providerId")})}
        if t.get("errorDetail"):
            doc["errorDetail"] = t["errorDetail"]
        return {"@context": CONTEXT, **edc(doc)}

    def v2_start_transfer(self):
        body = self.body()
        contract = text(body, "contractId")
        if not contract or not text(body, "assetId"):
            raise HttpError(400, "edc:contractId and edc:assetId are required")
        destination = plain(field(body, "dataDestination") or {})
        kind = text(destination, "type") or ""
        # HttpProxy is 0.4.1's pull: the provider's data plane hands out an EDR.
        if kind == "HttpProxy":
            transfer_type, destination = "HttpData-PULL", None
        else:
            transfer_type = f"{kind}-PUSH"
        t = self.app.consumer.start_transfer(text(body, "connectorAddress"), contract, transfer_type, destination)
        self.created(t["consumerPid"])

    def v2_get_transfer(self, id):
        t, role = self.transfer(id)
        self.send_json(200, self.v2_transfer_doc(t, role))

    def v2_transfer_state(self, id):
        t, _ = self.transfer(id)
        self.send_json(200, {"@context": CONTEXT, "@type": "edc:TransferState", "edc:state": t["state"]})

    def v2_terminate_transfer(self, id):
        body = self.body()
        t, role = self.transfer(id)
        reason = text(body, "reason") or "terminated through the management api"
        if role == "CONSUMER":
            self.app.consumer.manage_transfer(t, "terminate", reason)
        else:
            self.app.provider.manage_transfer(t, "terminate", reason)
        self.send_json(204, None)

    def v2_query_transfers(self):
        self.body()
        store = self.app.store
        docs = [self.v2_transfer_doc(t, "CONSUMER") for t in list(store.consumer_transfers.values())]
        docs += [self.v2_transfer_doc(t, "PROVIDER") for t in list(store.provider_transfers.values())]
        self.send_json(200, docs)

    def adapter_edr(self, id):
        t, role = self.transfer(id)
        if role != "CONSUMER" or not t.get("edr"):
            raise HttpError(404, f"no EDR for transfer process {id}")
        address = t["edr"]
        token = None
        for prop in field(address, "endpointProperties") or []:
            name = (text(prop, "name") or "").split("/")[-1].split(":")[-1]
            if name == "authorization":
                token = field(prop, "value")
        # The shape of Tractus-X's EndpointDataReference as a data address.
        doc = {"@type": "edc:DataAddress", "type": "EDR", "endpoint": text(address, "endpoint"), "authKey": "Authorization",
               "authCode": token, "id": t["consumerPid"], "cid": t["agreementId"]}
        self.send_json(200, {"@context": CONTEXT, **edc(doc)})


ROUTES_V2 = [
    ("POST", re.compile(r"^/v2/assets$"), "v2_create_asset"),
    ("POST", re.compile(r"^/v2/assets/request$"), "v2_query_assets"),
    ("GET", re.compile(r"^/v2/assets/(?P<id>[^/]+)$"), "v2_get_asset"),
    ("POST", re.compile(r"^/v2/policydefinitions$"), "v2_create_policy"),
    ("POST", re.compile(r"^/v2/contractdefinitions$"), "v2_create_definition"),
    ("POST", re.compile(r"^/v2/catalog/request$"), "v2_catalog"),
    ("POST", re.compile(r"^/v2/contractnegotiations$"), "v2_start_negotiation"),
    ("POST", re.compile(r"^/v2/contractnegotiations/request$"), "v2_query_negotiations"),
    ("GET", re.compile(r"^/v2/contractnegotiations/(?P<id>[^/]+)$"), "v2_get_negotiation"),
    ("GET", re.compile(r"^/v2/contractnegotiations/(?P<id>[^/]+)/state$"), "v2_negotiation_state"),
    ("GET", re.compile(r"^/v2/contractnegotiations/(?P<id>[^/]+)/agreement$"), "v2_negotiation_agreement"),
    ("POST", re.compile(r"^/v2/contractnegotiations/(?P<id>[^/]+)/cancel$"), "v2_cancel_negotiation"),
    ("GET", re.compile(r"^/v2/contractagreements/(?P<id>[^/]+)$"), "v2_get_agreement"),
    ("POST", re.compile(r"^/v2/transferprocesses$"), "v2_start_transfer"),
    ("POST", re.compile(r"^/v2/transferprocesses/request$"), "v2_query_transfers"),
    ("GET", re.compile(r"^/v2/transferprocesses/(?P<id>[^/]+)$"), "v2_get_transfer"),
    ("GET", re.compile(r"^/v2/transferprocesses/(?P<id>[^/]+)/state$"), "v2_transfer_state"),
    ("POST", re.compile(r"^/v2/transferprocesses/(?P<id>[^/]+)/terminate$"), "v2_terminate_transfer"),
    ("GET", re.compile(r"^/adapter/edrs/(?P<id>[^/]+)$"), "adapter_edr"),
]
