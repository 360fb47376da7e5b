"""The connector's in-memory state: management entities (assets, policies, contract
definitions), negotiations and transfers of both roles, agreements, and data-plane tokens.
One lock guards all of it; no network call is made while holding it.
"""

import threading
import uuid


def new_pid():
    return "urn:uuid:" + str(uuid.uuid4())


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.assets = {}
        self.policies = {}
        self.definitions = {}
        # Provider side, keyed by providerPid; consumer side, keyed by consumerPid.
        self.provider_negotiations = {}
        self.consumer_negotiations = {}
        self.provider_transfers = {}
        self.consumer_transfers = {}
        self.agreements = {}
        # Data-plane token -> provider transfer pid.
        self.tokens = {}
