// Times Twilio's Node helper minting the reference chat token (identity alice).
// Prints the median tokens/s over REPS runs of at least SECONDS each, single thread.
// Run by `cargo xtask bench` with twilio@5.13.1 installed under target/xtask-node.
const AccessToken = require("twilio").jwt.AccessToken;

const SECONDS = Number(process.argv[2] || 2);
const REPS = Number(process.argv[3] || 3);

function mint() {
  const token = new AccessToken("AC" + "a".repeat(32), "SK" + "b".repeat(32), "c".repeat(32), { identity: "alice" });
  token.addGrant(new AccessToken.ChatGrant({
    serviceSid: "IS" + "d".repeat(32),
    endpointId: "app:alice@example.com:browser",
    pushCredentialSid: "CR" + "e".repeat(32),
  }));
  return token.toJwt();
}

const rates = [];
for (let r = 0; r < REPS; r++) {
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  for (;;) {
    for (let i = 0; i < 50; i++) mint();
    n += 50;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    if (elapsed >= SECONDS) break;
  }
  rates.push(n / elapsed);
}
rates.sort((a, b) => a - b);
console.log(Math.round(rates[Math.floor(rates.length / 2)]));
