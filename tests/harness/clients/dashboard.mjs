// Drive the admin dashboard in real headless Chromium (Debian's, through playwright-core) and
// print what a person would see, as one JSON object, for crates/switchboard/tests/dashboard.rs.
//
// usage: node dashboard.mjs ADMIN_URL KEY SCREENSHOT_DIR [--wait-tool NAME]
//                           [--create-key NAME ROLE] [--revoke NAME]
//   ADMIN_URL: http://127.0.0.1:PORT (the admin listener); KEY: the credential to sign in with
//   ("" to try without one). Screenshots of the pages go to SCREENSHOT_DIR. --create-key fills
//   and sends the new-key form (the key shown is reported); --revoke clicks the key's Revoke.
import { chromium } from "playwright-core";

const [base, key, shots, ...rest] = process.argv.slice(2);
const opt = (name, n = 1) => {
  const i = rest.indexOf(name);
  return i < 0 ? null : rest.slice(i + 1, i + 1 + n);
};
const waitTool = opt("--wait-tool")?.[0] ?? null;
const createKey = opt("--create-key", 2);
const revoke = opt("--revoke")?.[0] ?? null;
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
      if (createKey) {
        await page.getByLabel("Name", { exact: true }).fill(createKey[0]);
        await page.getByLabel("Role", { exact: true }).fill(createKey[1]);
        await page.getByRole("button", { name: "Create key" }).click();
        await page.locator("#created:not([hidden]), #new-key-error:not(:empty)").first()
          .waitFor({ timeout: 15000 });
        out.createdKey = (await page.locator("#created-key").textContent()) || null;
        out.createError = (await page.locator("#new-key-error").textContent()) || null;
      }
      if (revoke) {
        await page.getByRole("button", { name: `Revoke key ${revoke}` }).click();
        await page.locator(`#key-list tr[data-key="${revoke}"] td:nth-child(4)`)
          .filter({ hasText: "revoked" }).waitFor({ timeout: 15000 });
      }
      out.keys = await page.$$eval("#key-list tbody tr", (rows) =>
        rows.map((r) => ({
          name: r.cells[0].textContent,
          status: r.cells[3].textContent,
          revocable: r.querySelector("button") !== null,
        })));
      out.mayCreate = await page.locator("#new-key").isVisible();
      await page.screenshot({ path: `${shots}/keys.png`, fullPage: true });
    } else {
      await page.screenshot({ path: `${shots}/refused.png` });
    }
  }
  out.pageErrors = errors;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
