// The development console (served at /console/app.js): gets a token for a user, decodes
// it, counts down to expiry, refreshes it before then, and shows the inspector's verdict.
"use strict";
let bearer = null, expiresAt = 0, lifetime = 0, refreshes = 0, refreshTimer = null;

function b64urlJson(part) {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((part.length + 3) % 4);
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function getToken(isRefresh) {
  const res = await fetch("/token", { method: "POST", headers: { "Authorization": "Bearer " + bearer } });
  const body = await res.json();
  const status = document.getElementById("status");
  if (!res.ok) {
    status.className = "bad";
    status.textContent = res.status + " " + body.error + ": " + body.message;
    return;
  }
  if (isRefresh) { refreshes += 1; document.getElementById("refreshes").textContent = refreshes; }
  status.className = "ok";
  status.textContent = "Token for " + body.identity + " (valid " + body.expires_in + " s)";
  const parts = body.token.split(".");
  document.getElementById("jwt").textContent = body.token;
  document.getElementById("header").textContent = JSON.stringify(b64urlJson(parts[0]), null, 2);
  document.getElementById("claims").textContent = JSON.stringify(b64urlJson(parts[1]), null, 2);
  expiresAt = body.expires_at;
  lifetime = body.expires_in;
  tick();
  // Refresh before expiry: at 80% of the lifetime, and at least 5 s before the end.
  const refreshIn = Math.max(1, Math.min(lifetime * 0.8, lifetime - 5));
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => getToken(true), refreshIn * 1000);
  await inspect(body.token);
}

async function inspect(token) {
  const res = await fetch("/console/inspect", { method: "POST", body: token });
  const v = await res.json();
  const verdict = document.getElementById("verdict");
  verdict.className = v.accepted ? "ok" : "bad";
  verdict.textContent = v.accepted
    ? "Well-formed and correctly signed (signature " + v.signature + "); Twilio still refuses development credentials"
    : "Refused (signature " + v.signature + ")";
  document.getElementById("problems").textContent =
    v.problems.map(p => p.code + " " + p.message).join("\n") || "no problems";
}

function tick() {
  if (!expiresAt) return;
  const left = Math.max(0, expiresAt - Math.floor(Date.now() / 1000));
  document.getElementById("countdown").textContent = left + " s";
}
setInterval(tick, 250);

function choose(token, button) {
  bearer = token;
  refreshes = 0;
  document.getElementById("refreshes").textContent = "0";
  document.querySelectorAll("#users button").forEach(b => b.classList.remove("active"));
  if (button) button.classList.add("active");
  getToken(false);
}

document.getElementById("use-custom").onclick = () => choose(document.getElementById("custom").value.trim(), null);

fetch("/console/users").then(r => r.json()).then(users => {
  const box = document.getElementById("users");
  box.textContent = "";
  for (const u of users) {
    const b = document.createElement("button");
    b.textContent = u.identity;
    b.dataset.identity = u.identity;
    b.onclick = () => choose(u.token, b);
    box.appendChild(b);
  }
  if (!users.length) box.textContent = "No demo users: CHAT_TOKEN_USERS is set; use a bearer token below.";
});
