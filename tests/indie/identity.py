"""Identity: this connector's own DATs from a DAPS and the verification of the DATs its peers send.

A DAT is obtained with the OAuth2 client-credentials grant, the client authenticating with a
JWT it signs itself (RFC 7523 `private_key_jwt`, ES256). Incoming DATs are verified against the
DAPS key set: ES256 signature by a published key, `exp`, `nbf`, `iss`, and an audience that is
this connector's participant id or `idsc:IDS_CONNECTORS_ALL`. Written against RFC 7515/7519/7523
and the IDS DAPS profile, with `cryptography` for the elliptic-curve work.
"""

import base64
import json
import threading
import time
import urllib.parse
import urllib.request
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ALL_CONNECTORS = "idsc:IDS_CONNECTORS_ALL"
SCOPE = "idsc:IDS_CONNECTOR_ATTRIBUTES_ALL"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LEEWAY = 5


class TokenError(Exception):
    """A DAT that must be refused, with the reason."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_es256(private_key, header: dict, claims: dict) -> str:
    signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(json.dumps(claims, separators=(",", ":")).encode())
    der = private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def decode_unverified(token: str):
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a compact jws")
    try:
        return json.loads(unb64url(parts[0])), json.loads(unb64url(parts[1])), parts
    except Exception as e:  # noqa: BLE001 - any decoding problem is a refusal
        raise TokenError(f"undecodable token: {e}")


def strip_bearer(value: str) -> str:
    value = (value or "").strip()
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return value


class DatClient:
    """Gets DATs for this connector from the DAPS, one cached per audience."""

    def __init__(self, token_url: str, key_dir: str):
        self.token_url = token_url
        with open(f"{key_dir}/key.pem", "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        with open(f"{key_dir}/participant.json") as f:
            participant = json.load(f)
        self.client_id = participant.get("clientId") or participant["client_id"]
        self.kid = participant.get("kid")
        self.cache = {}
        self.lock = threading.Lock()

    def token(self, audience: str) -> str:
        with self.lock:
            hit = self.cache.get(audience)
            if hit and hit[1] > time.time() + 30:
                return hit[0]
        now = int(time.time())
        header = {"alg": "ES256", "typ": "JWT"}
        if self.kid:
            header["kid"] = self.kid
        assertion = sign_es256(self.key, header, {
            "iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
            "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + 60,
        })
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            "scope": SCOPE,
            "resource": audience,
        }).encode()
        request = urllib.request.Request(self.token_url, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
        token = body["access_token"]
        with self.lock:
            self.cache[audience] = (token, now + int(body.get("expires_in", 300)))
        return token


def jwk_public_key(jwk: dict):
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    x = int.from_bytes(unb64url(jwk["x"]), "big")
    y = int.from_bytes(unb64url(jwk["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


class DatVerifier:
    """Verifies DATs against the DAPS key set (fetched once, again for an unknown kid)."""

    def __init__(self, jwks_url: str, issuer: str, audience: str, accept_any_audience=False, check_expiry=True):
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.accept_any_audience = accept_any_audience
        self.check_expiry = check_expiry
        self.keys = {}
        self.fetched_at = 0.0
        self.lock = threading.Lock()

    def _fetch(self):
        with urllib.request.urlopen(self.jwks_url, timeout=10) as response:
            jwks = json.load(response)
        keys = {}
        for jwk in jwks.get("keys", []):
            key = jwk_public_key(jwk)
            if key is not None:
                keys[jwk.get("kid")] = key
        with self.lock:
            self.keys = keys
            self.fetched_at = time.time()

    def _candidates(self, kid):
        with self.lock:
            if kid in self.keys:
                return [self.keys[kid]]
            stale = time.time() - self.fetched_at > 1.0
        if stale:
            self._fetch()
        with self.lock:
            if kid in self.keys:
                return [self.keys[kid]]
            return list(self.keys.values()) if kid is None else []

    def verify(self, header_value: str) -> dict:
        token = strip_bearer(header_value)
        if not token:
            raise TokenError("no token")
        header, claims, parts = decode_unverified(token)
        if header.get("alg") != "ES256":
            raise TokenError(f"algorithm {header.get('alg')!r} is not ES256")
        signature = unb64url(parts[2])
        if len(signature) != 64:
            raise TokenError("the signature is not a 64-byte ES256 signature")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        signed = (parts[0] + "." + parts[1]).encode()
        ok = False
        for key in self._candidates(header.get("kid")):
            try:
                key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
                ok = True
                break
            except InvalidSignature:
                continue
        if not ok:
            raise TokenError("the signature is not by a key the daps publishes")
        now = time.time()
        if self.check_expiry:
            exp = claims.get("exp")
            if not isinstance(exp, (int, float)) or now >= exp + LEEWAY:
                raise TokenError("the token has expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and now + LEEWAY < nbf:
            raise TokenError("the token is not valid yet")
        if claims.get("iss") != self.issuer:
            raise TokenError(f"issuer {claims.get('iss')!r} is not {self.issuer!r}")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not self.accept_any_audience and self.audience not in auds and ALL_CONNECTORS not in auds:
            raise TokenError(f"audience {auds!r} does not name {self.audience!r}")
        return claims
