// Drive the admin dashboard in real headless Chromium (Debian's, through playwright-core) and
// print what a person would see, as one JSON object, for crates/switchboard/tests/dashboard.rs.
//
// usage: node dashboard.mjs ADMIN_URL KEY SCREENSHOT_DIR [--wait-tool NAME]
//   ADMIN_URL: http://127.0.0.1:PORT (the admin listener); KEY: the credential to sign in with
//   ("" to try without one). Screenshots of the pages go to SCREENSHOT_DIR.
import { chromium } from "playwright-core";

const [base, key, shots, ...rest] = process.argv.slice(2);
const waitTool = rest[0] === "--wait-tool" ? rest[1] : null;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const out = {};
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(`${base}/admin/`);
  out.title = await page.title();
  // The key field is labelled, so it is found by its label, as a screen reader finds it.
  await page.getByLabel("Admin API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  if (!key) {
    out.signedIn = false;
    out.error = await page.locator("#key:invalid").count() > 0 ? "the key is required" : null;
  } else {
    const overview = page.locator("#overview");
    const error = page.locator("#sign-in-error");
    await Promise.race([
      overview.waitFor({ state: "visible", timeout: 15000 }),
      error.filter({ hasText: /\S/ }).waitFor({ timeout: 15000 }),
    ]);
    out.signedIn = await overview.isVisible();
    out.error = (await error.textContent()) || null;
    if (out.signedIn) {
      out.who = await page.locator("#who").textContent();
      await page.locator("#servers tbody tr").first().waitFor({ timeout: 15000 });
      if (waitTool) {
        await page.locator(`#tools tbody tr[data-tool="${waitTool}"]`).waitFor({ timeout: 20000 });
      }
      out.servers = await page.$$eval("#servers tbody tr", (rows) =>
        rows.map((r) => Array.from(r.cells, (c) => c.textContent)));
      out.tools = await page.$$eval("#tools tbody tr", (rows) =>
        rows.map((r) => Array.from(r.cells, (c) => c.textContent)));
      await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });
    } else {
      await page.screenshot({ path: `${shots}/refused.png` });
    }
  }
  out.pageErrors = errors;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
