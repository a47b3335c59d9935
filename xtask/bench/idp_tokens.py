"""Signs the identity-provider tokens `cargo xtask bench` sends to `chat-token serve`,
and times PyJWT verifying them (the Python reference for bearer-JWT verification).

Usage: idp_tokens.py OUT_DIR RSA_PEM EC_PEM ISSUER AUDIENCE SECONDS
Writes OUT_DIR/{rs256,es256}.txt (2,000 distinct tokens each, one per line) and
OUT_DIR/{rs256,es256}_one.txt (one token); prints {"rs256_us": .., "es256_us": ..}, the
median microseconds of one `jwt.decode` (signature and claims) over three runs.
"""

import json
import statistics
import sys
import time

import jwt

out, rsa_pem, ec_pem, issuer, audience, seconds = sys.argv[1:7]
seconds = float(seconds)
keys = {
    "rs256": ("RS256", "rsa1", open(rsa_pem, "rb").read()),
    "es256": ("ES256", "key1", open(ec_pem, "rb").read()),
}
exp = int(time.time()) + 6 * 3600
result = {}
for name, (alg, kid, pem) in keys.items():
    tokens = [
        jwt.encode(
            {"iss": issuer, "aud": audience, "sub": f"user-{n:05}", "exp": exp},
            pem,
            algorithm=alg,
            headers={"kid": kid},
        )
        for n in range(2000)
    ]
    with open(f"{out}/{name}.txt", "w") as f:
        f.write("\n".join(tokens) + "\n")
    with open(f"{out}/{name}_one.txt", "w") as f:
        f.write(tokens[0] + "\n")
    public = jwt.PyJWK.from_dict(json.load(open(f"{out}/jwks.json"))["keys"][0 if kid == "key1" else 1]).key
    runs = []
    for _ in range(3):
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            jwt.decode(tokens[n % len(tokens)], public, algorithms=[alg], audience=audience, issuer=issuer)
            n += 1
        runs.append((time.perf_counter() - start) / n * 1e6)
    result[f"{name}_us"] = statistics.median(runs)
print(json.dumps(result))
