// Mints Access Tokens with Twilio's Node helper (npm `twilio@5.13.1`), clock fixed at
// 1700000000, for crates/chat-token-core/tests/data/helper_shapes.json.
// Run: npm install twilio@5.13.1 && node node_mint.js > node_tokens.json
const twilio = require("twilio");
const AccessToken = twilio.jwt.AccessToken;
Date.now = () => 1700000000 * 1000;
const AC = "AC" + "a".repeat(32), SK = "SK" + "b".repeat(32), SECRET = "c".repeat(32);
function tok(opts, grants) {
  const t = new AccessToken(AC, SK, SECRET, opts);
  for (const g of grants) t.addGrant(g);
  return t.toJwt();
}
const chat = () => new AccessToken.ChatGrant({ serviceSid: "IS" + "d".repeat(32), endpointId: "app:alice@example.com:browser", pushCredentialSid: "CR" + "e".repeat(32) });
const out = {
  node_chat: tok({ identity: "alice@example.com" }, [chat()]),
  node_region: tok({ identity: "Zoë/🦀", region: "ie1" }, [chat(), new AccessToken.VideoGrant({ room: "r/1" })]),
  node_voice: tok({ identity: "alice_01", ttl: 600 }, [new AccessToken.VoiceGrant({ incomingAllow: true, outgoingApplicationSid: "AP" + "1".repeat(32), outgoingApplicationParams: { to: "+1555" } })]),
  node_nbf: tok({ identity: "bob", nbf: 1699999000 }, [new AccessToken.SyncGrant({ serviceSid: "IS" + "f".repeat(32) })]),
};
console.log(JSON.stringify(out, null, 1));
