"""Writes crates/chat-token-core/tests/data/helper_shapes.json.

- python: minted by Twilio's Python helper (twilio==9.13.0), clock fixed.
- node: minted by Twilio's Node helper (twilio@5.13.1, see node_mint.js); read from
  node_tokens.json next to this script.
- ruby, php: built here in exactly the shape those helpers' code writes (header and
  payload key order, which claims, and PHP's `\\/` and `\\uXXXX` escapes), signed with
  HMAC-SHA256; twilio-ruby and twilio-php are not on a registry this project uses.
- bad-*: tokens that Twilio refuses, one per error code.

Run it with the xtask venv's python: target/xtask-venv/bin/python make_shapes.py
"""

import base64
import hashlib
import hmac
import json
import os
import time

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "crates", "chat-token-core", "tests", "data", "helper_shapes.json")
AC, SK, SECRET = "AC" + "a" * 32, "SK" + "b" * 32, "c" * 32
NOW = 1700000000
CHAT = {
    "service_sid": "IS" + "d" * 32,
    "endpoint_id": "app:alice@example.com:browser",
    "push_credential_sid": "CR" + "e" * 32,
}


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign(header_json, payload_json, secret=SECRET):
    signing = b64(header_json.encode()) + "." + b64(payload_json.encode())
    mac = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(mac)


def compact(obj, **kw):
    return json.dumps(obj, separators=(",", ":"), **kw)


def php(obj):
    # json_encode: "/" escaped, non-ASCII as \\uXXXX.
    return compact(obj, ensure_ascii=True).replace("/", "\\/")


def python_token(identity="alice@example.com", **kw):
    time.time = lambda: NOW
    token = AccessToken(AC, SK, SECRET, identity=identity, **kw)
    token.add_grant(ChatGrant(**CHAT))
    return token.to_jwt()


shapes = []


def add(name, helper, how, token, accepted, codes=()):
    shapes.append({"name": name, "helper": helper, "how": how, "token": token,
                   "now": NOW + 10, "accepted": accepted, "codes": list(codes)})


add("python-chat", "python", "twilio==9.13.0", python_token(), True)
add("python-region-no-nbf", "python", "twilio==9.13.0",
    python_token(identity="zoë/🦀", nbf=None, region="ie1"), True)

with open(os.path.join(HERE, "node_tokens.json")) as f:
    for name, token in json.load(f).items():
        add(name.replace("_", "-"), "node", "twilio@5.13.1 (npm)", token, True)

ruby_header = compact({"cty": "twilio-fpa;v=1", "typ": "JWT", "alg": "HS256"})
ruby_payload = compact({"jti": f"{SK}-{NOW}", "grants": {"identity": "zoë/alice", "chat": CHAT},
                        "iss": SK, "nbf": NOW, "exp": NOW + 3600, "sub": AC}, ensure_ascii=False)
add("ruby-chat", "ruby", "twilio-ruby BaseJWT shape", sign(ruby_header, ruby_payload), True)

php_header = compact({"typ": "JWT", "alg": "HS256", "cty": "twilio-fpa;v=1"})
php_payload = php({"jti": f"{SK}-{NOW}", "iss": SK, "sub": AC, "exp": NOW + 3600,
                   "grants": {"identity": "zoë/alice", "chat": CHAT}})
add("php-chat", "php", "twilio-php AccessToken::toJWT shape", sign(php_header, php_payload), True)

null_twr = compact({"alg": "HS256", "cty": "twilio-fpa;v=1", "twr": None, "typ": "JWT"})
good_payload = {"jti": f"{SK}-{NOW}", "grants": {"chat": CHAT, "identity": "alice"},
                "iss": SK, "exp": NOW + 3600, "nbf": NOW, "sub": AC}
add("twr-null", "node", "header with \"twr\":null, as older Node helpers wrote it",
    sign(null_twr, compact(good_payload)), True)

std_header = compact({"alg": "HS256", "cty": "twilio-fpa;v=1", "typ": "JWT"})


def bad(name, codes, header=std_header, secret=SECRET, **changes):
    payload = json.loads(json.dumps(good_payload))
    for k, v in changes.items():
        if v is None:
            payload.pop(k, None)
        else:
            payload[k] = v
    add(name, "constructed", "good payload with one fault", sign(header, compact(payload), secret),
        False, codes)


bad("bad-header-alg", [20102], header=compact({"alg": "HS512", "cty": "twilio-fpa;v=1", "typ": "JWT"}))
bad("bad-header-cty", [20102], header=compact({"alg": "HS256", "typ": "JWT"}))
bad("bad-issuer", [20103], iss="AC" + "a" * 32)
bad("bad-subject", [20103], sub="SK" + "b" * 32)
bad("bad-expired", [20104], exp=NOW - 5, nbf=NOW - 100)
bad("bad-exp-missing", [20104], exp=None)
bad("bad-not-yet-valid", [20105], nbf=NOW + 600)
bad("bad-grants-missing", [20106], grants=None)
bad("bad-grants-no-identity", [20106], grants={"chat": CHAT})
bad("bad-signature", [20107], secret="d" * 32)
bad("bad-lifetime", [20157], exp=NOW + 90000)

with open(OUT, "w") as f:
    json.dump(shapes, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"wrote {len(shapes)} tokens to {OUT}")
