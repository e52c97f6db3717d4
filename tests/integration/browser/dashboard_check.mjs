// Opens Sluice's dashboard in Debian's chromium (playwright-core drives it)
// and checks what an operator would look at. Usage:
//   node dashboard_check.mjs URL SCREENSHOT HOT_FOREST [TIMEOUT_S]
// Prints one JSON line with what it saw; exits non-zero on any failure,
// including any console error or failed request on the page.
import { chromium } from "playwright-core";

const [url, screenshot, hotForest, timeoutS = "60"] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutS) * 1000;
const problems = [];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("requestfailed", (r) => problems.push("request failed: " + r.url()));
  await page.goto(url, { waitUntil: "load" });
  // The forests, as cards, once the first poll has answered.
  await page.waitForSelector(".forest[data-forest]", { timeout: 15000 });
  seen.forests = await page.$$eval(".forest[data-forest]", (cs) => cs.map((c) => c.dataset.forest));
  // The test saturates HOT_FOREST: its card must turn red (data-state hot).
  const hot = `.forest[data-forest="${hotForest}"][data-state="hot"]`;
  await page.waitForSelector(hot, { timeout: Math.max(1000, deadline - Date.now()) });
  seen.hot_color = await page.$eval(hot, (c) => getComputedStyle(c).borderColor);
  seen.banner = await page.$eval("#banner", (b) => b.className);
  seen.health = await page.$eval("#health", (h) => h.textContent);
  seen.others = await page.$$eval(".forest[data-forest]", (cs) =>
    Object.fromEntries(cs.map((c) => [c.dataset.forest, c.dataset.state])));
  seen.charts = await page.$$eval(".chart svg", (s) => s.length);
  seen.destinations = await page.$$eval("#destinations tbody tr", (r) => r.length);
  seen.spool = await page.$eval("#spool", (s) => s.dataset.state);
  seen.spool_figures = await page.$$eval("#spool div", (ds) => ds.map((d) => d.textContent));
  seen.flight = await page.$eval("#flight", (f) => f.dataset.state);
  seen.flight_summary = await page.$eval("#flight-summary", (s) => s.textContent);
  seen.flight_gates = await page.$$eval("#flight-gates tbody tr", (rs) => rs.map((r) => r.dataset.gate));
  seen.flight_lanes = await page.$$eval(".forest .row", (rs) =>
    rs.filter((r) => r.textContent.startsWith("flight lane")).length);
  seen.fleet = await page.$eval("#fleet", (f) => (f.hidden ? "hidden" : f.dataset.mode));
  seen.fleet_budgets = await page.$$eval("#fleet-budgets tbody tr", (rs) => rs.map((r) => r.dataset.forest));
  seen.fleet_summary = await page.$eval("#fleet-summary", (s) => s.textContent);
  seen.fleet_destinations = await page.$$eval("#fleet-destinations tbody tr", (rs) => rs.map((r) => r.dataset.destination));
  seen.shadow = await page.$eval("#shadow", (s) => (s.hidden ? "hidden" : s.dataset.drain));
  seen.shadow_summary = await page.$eval("#shadow-summary", (s) => s.textContent);
  seen.shadow_peers = await page.$$eval("#shadow-peers tbody tr", (rs) => rs.map((r) => [r.dataset.peer, r.dataset.state]));
  await page.waitForFunction(() => document.querySelector("#quarantine-summary").textContent !== "not read yet");
  seen.quarantine_summary = await page.$eval("#quarantine-summary", (s) => s.textContent);
  await page.screenshot({ path: screenshot, fullPage: true });
} catch (e) {
  problems.push(String(e && e.message ? e.message : e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ seen, problems }));
process.exit(problems.length ? 1 : 0);
