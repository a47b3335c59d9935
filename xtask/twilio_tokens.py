"""Mint Access Tokens with Twilio's Python helper for the cases read from stdin.

Each input line is a JSON case (see crates/chat-token-core/tests/support/case.rs); each
output line is the same case with "token" set. The clock is fixed at the case's "now".
Run by `cargo xtask golden` and `cargo xtask conformance`, in the venv they create.
"""

import json
import warnings
import sys
import time

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token import grants as g

GRANTS = {
    "chat": g.ChatGrant,
    "data_sync": g.SyncGrant,
    "voice": g.VoiceGrant,
    "video": g.VideoGrant,
    "task_router": g.TaskRouterGrant,
    "player": g.PlaybackGrant,
}


def mint(case):
    now = case["now"]
    time.time = lambda: now
    kwargs = {}
    if case["nbf"] == "omit":
        kwargs["nbf"] = None
    elif case["nbf"] != "default":
        kwargs["nbf"] = case["nbf"]
    if "ttl" in case:
        kwargs["ttl"] = case["ttl"]
    if "valid_until" in case:
        kwargs["valid_until"] = case["valid_until"]
    if "region" in case:
        kwargs["region"] = case["region"]
    token = AccessToken(
        case["account_sid"],
        case["api_key_sid"],
        case["secret"],
        identity=case.get("identity"),
        **kwargs,
    )
    for grant in case["grants"]:
        for key, fields in grant.items():
            token.add_grant(GRANTS[key](**fields))
    return token.to_jwt()


def main():
    # Short generated secrets are intended: the comparison covers every key length.
    warnings.filterwarnings("ignore")
    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        case["token"] = mint(case)
        sys.stdout.write(json.dumps(case, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
