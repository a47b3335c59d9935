// Clicks through the development console of `chat-token serve` in headless Chromium:
// pick a demo user, get a token, see it decoded, watch the countdown, see the inspect
// verdict, wait for the automatic refresh, and keep a screenshot.
// Run by `cargo xtask browser` (which installs Debian's chromium and playwright-core).
// Usage: node console.test.js <base-url> <screenshot.png>
const { chromium } = require("playwright-core");

const [base, screenshot] = process.argv.slice(2);
let passed = 0;
let failed = 0;

function check(what, ok, detail) {
  if (ok) {
    passed += 1;
    console.log("ok   " + what);
  } else {
    failed += 1;
    console.log("FAIL " + what + (detail ? ": " + detail : ""));
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(base + "/");
    check("the console page loads", (await page.title()).includes("chat-token"));

    await page.waitForSelector('#users button[data-identity="alice"]', { timeout: 10000 });
    await page.click('#users button[data-identity="alice"]');
    await page.waitForFunction(
      () => document.querySelector("#status").textContent.includes("Token for alice"),
      null, { timeout: 10000 });
    check("a token for alice is shown", true);

    const claims = JSON.parse(await page.textContent("#claims"));
    check("the claims are decoded", claims.grants && claims.grants.identity === "alice",
      JSON.stringify(claims));
    const header = JSON.parse(await page.textContent("#header"));
    check("the header is Twilio's", header.cty === "twilio-fpa;v=1" && header.alg === "HS256",
      JSON.stringify(header));

    await page.waitForFunction(
      () => document.querySelector("#verdict").textContent.startsWith("Well-formed"),
      null, { timeout: 10000 });
    check("the inspect verdict says well-formed and correctly signed", true);

    await page.waitForFunction(
      () => /^\d+ s$/.test(document.querySelector("#countdown").textContent),
      null, { timeout: 5000 });
    const first = parseInt(await page.textContent("#countdown"), 10);
    await page.waitForTimeout(2200);
    const later = parseInt(await page.textContent("#countdown"), 10);
    check("the countdown runs", later < first, first + " then " + later);

    const jwtBefore = await page.textContent("#jwt");
    await page.waitForFunction(
      () => parseInt(document.querySelector("#refreshes").textContent, 10) >= 1,
      null, { timeout: 20000 });
    const jwtAfter = await page.textContent("#jwt");
    check("the token is refreshed before it expires", jwtAfter !== jwtBefore);
    const left = parseInt(await page.textContent("#countdown"), 10);
    check("the refreshed token is fresh", left > 5, left + " s left");

    await page.fill("#custom", "not-a-user");
    await page.click("#use-custom");
    await page.waitForFunction(
      () => document.querySelector("#status").textContent.startsWith("401"),
      null, { timeout: 10000 });
    check("a wrong bearer token shows the 401 error", true);

    await page.click('#users button[data-identity="bob"]');
    await page.waitForFunction(
      () => document.querySelector("#status").textContent.includes("Token for bob"),
      null, { timeout: 10000 });
    await page.waitForFunction(
      () => document.querySelector("#verdict").textContent.startsWith("Well-formed"),
      null, { timeout: 10000 });
    await page.screenshot({ path: screenshot, fullPage: true });
    check("a screenshot was taken", true);
  } catch (err) {
    check("the walk-through", false, String(err));
  } finally {
    await browser.close();
  }
  console.log("browser: " + passed + " passed, " + failed + " failed");
  process.exit(failed === 0 ? 0 : 1);
})();
