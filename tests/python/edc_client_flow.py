"""The carbon-emissions flow driven through an EDC management client that this project did not write.

`edc-client` (PyPI) is an independently written client of the Eclipse EDC management API v3,
generated from EDC's OpenAPI document, with a hand-written `Connector` helper on top. This script
uses that helper as its authors intend, against a reference data space started by
`dsp-harness serve --format json` (whose JSON it reads on standard input): the provider registers
the carbon-emissions asset, a policy and a contract definition; the consumer requests the
catalog, negotiates, starts an HTTP pull, reads its EDR and pulls the data. It exits non-zero with
a message on the first step that fails, and checks that the pulled bytes are the asset's bytes.
"""

import hashlib
import json
import sys

import urllib3
from edc_client.connector import Connector, Counterparty

ASSET_ID = "carbon-emissions-edc-client"


def fail(step, error):
    print(f"edc-client flow failed at {step}: {error}", file=sys.stderr)
    sys.exit(1)


def main():
    served = json.load(sys.stdin)
    space = served["dataspace"]
    source_url = served["carbonSourceUrl"]
    provider_info, consumer_info = space["provider"], space["consumer"]

    provider = Connector(
        "samples",
        provider_info["management_url"],
        provider_info["participant_id"],
        provider_info["dsp_url"],
        provider_info["api_key"],
    )
    consumer = Connector(
        "samples",
        consumer_info["management_url"],
        consumer_info["participant_id"],
        consumer_info["dsp_url"],
        consumer_info["api_key"],
    )

    try:
        provider.create_asset(ASSET_ID, source_url, name="Carbon emissions of company X's fleet")
        provider.create_policy("use-edc-client", permissions=[{"action": "use"}])
        provider.create_contract_definition(
            "contract-edc-client",
            "use-edc-client",
            "use-edc-client",
        )  # no selector: every asset. The client's models refuse the plain-string criterion its own docstring shows.
    except Exception as error:  # the client raises its own ApiException and pydantic errors
        fail("provider set-up", error)

    assets = provider.list_assets()
    if not any(asset.get("@id") == ASSET_ID for asset in assets):
        fail("list assets", f"{ASSET_ID} not among {[a.get('@id') for a in assets]}")

    counterparty = Counterparty(provider_info["participant_id"], provider_info["dsp_url"])
    try:
        response = consumer.negotiate_and_transfer(
            counterparty, ASSET_ID, poll_interval=0.1, poll_timeout=20
        )
    except Exception as error:
        fail("catalog, negotiation, transfer and pull", error)

    pulled = hashlib.sha256(response.data).hexdigest()
    expected = hashlib.sha256(urllib3.request("GET", source_url).data).hexdigest()
    if pulled != expected:
        fail("digest", f"pulled {len(response.data)} bytes with sha256 {pulled}, the source has {expected}")
    print(json.dumps({"asset": ASSET_ID, "bytes": len(response.data), "sha256": pulled}))


if __name__ == "__main__":
    main()
