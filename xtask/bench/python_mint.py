"""Times Twilio's Python helper minting the reference chat token (identity alice).

Prints the median tokens/s over REPS runs of at least SECONDS each, single thread.
Run by `cargo xtask bench` in the venv it creates.
"""

import statistics
import sys
import time

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import ChatGrant

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def mint():
    token = AccessToken("AC" + "a" * 32, "SK" + "b" * 32, "c" * 32, identity="alice")
    token.add_grant(ChatGrant(service_sid="IS" + "d" * 32,
                              endpoint_id="app:alice@example.com:browser",
                              push_credential_sid="CR" + "e" * 32))
    return token.to_jwt()


rates = []
for _ in range(REPS):
    n = 0
    start = time.perf_counter()
    while True:
        for _ in range(200):
            mint()
        n += 200
        elapsed = time.perf_counter() - start
        if elapsed >= SECONDS:
            break
    rates.append(n / elapsed)
print(f"{statistics.median(rates):.0f}")
