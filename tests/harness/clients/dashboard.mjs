// Drive the admin dashboard in real headless Chromium (Debian's, through playwright-core) as a
// person would, one command at a time, for crates/switchboard/tests/dashboard.rs.
//
// usage: node dashboard.mjs ADMIN_URL SCREENSHOT_DIR
//   Reads one JSON command per line on stdin ({"do": NAME, ...}) and answers each with one
//   JSON line on stdout: what the page showed, plus `pageErrors` (script errors and console
//   errors so far). Elements are found by their labels and roles where a person would use them.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [base, shots] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
// A refused credential's 401/403 is logged by Chromium as a failed load: expected, not an error.
page.on("console", (m) => {
  if (m.type() === "error" && !/status of 40[13]/.test(m.text())) errors.push(m.text());
});

const cells = (selector) => page.$$eval(selector, (rows) =>
  rows.map((r) => Array.from(r.cells, (c) => c.textContent)));
const go = async (hash, ready, state = "visible") => {
  await page.evaluate((h) => { location.hash = h; }, hash);
  if (ready) await page.locator(ready).first().waitFor({ state, timeout: 15000 });
};
const signedIn = () => page.locator("#shell").isVisible();

const commands = {
  async open() {
    await page.goto(`${base}/admin/`);
    return { title: await page.title() };
  },
  async signIn({ key }) {
    await page.getByLabel("Admin API key or JWT").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
    if (!key) {
      return { signedIn: false, error: await page.locator("#key:invalid").count() > 0 ? "the key is required" : null };
    }
    await Promise.race([
      page.locator("#shell").waitFor({ state: "visible", timeout: 15000 }),
      page.locator("#sign-in-error").filter({ hasText: /\S/ }).waitFor({ timeout: 15000 }),
    ]);
    const inside = await signedIn();
    if (!inside) await page.screenshot({ path: `${shots}/refused.png` });
    return {
      signedIn: inside,
      who: await page.locator("#who").textContent(),
      error: (await page.locator("#sign-in-error").textContent()) || null,
      nav: await page.$$eval("nav a", (as) => as.map((a) => a.textContent)),
    };
  },
  async overview({ waitTool }) {
    await go("#/overview", "#servers tbody tr");
    if (waitTool) await page.locator(`#tools tbody tr[data-tool="${waitTool}"]`).waitFor({ timeout: 20000 });
    return {
      servers: await cells("#servers tbody tr"),
      tools: await cells("#tools tbody tr"),
      figures: await page.$$eval(".figure", (fs) => fs.map((f) => f.textContent)),
    };
  },
  // Open a server's page from the overview's link and wait until it shows `state` (`down`:
  // any state but ready).
  async waitServer({ server, state, timeoutMs = 30000 }) {
    if (!page.url().endsWith(`#/servers/${server}`)) {
      await go("#/overview", "#servers tbody tr");
      await page.getByRole("link", { name: `Server ${server}` }).click();
    }
    const cell = page.locator("#server-state span");
    const started = Date.now();
    await page.waitForFunction((want) => {
      const shown = document.querySelector("#server-state span")?.textContent;
      return shown && (want === "ready" ? shown === "ready" : shown !== "ready");
    }, state, { timeout: timeoutMs, polling: 50 });
    return {
      state: await cell.textContent(),
      detail: await page.locator("#server-detail").textContent(),
      lastError: await page.locator("#server-last-error").textContent(),
      tools: await cells("#server-tools tbody tr"),
      waitedMs: Date.now() - started,
    };
  },
  // Fill the playground's form for `tool` (field name → text typed, or true to tick) and call.
  async playground({ tool, fields = {}, call = true }) {
    await go("#/playground", "#tool-pick option:nth-child(2)", "attached");
    await page.getByLabel("Tool", { exact: true }).selectOption(tool);
    for (const [name, value] of Object.entries(fields)) {
      const input = page.locator(`#call-form [name="${name}"]`);
      if (value === true) await input.check(); else await input.fill(String(value));
    }
    const button = page.getByRole("button", { name: "Call", exact: true });
    const out = { callEnabled: await button.isEnabled(), labels: await page.$$eval("#call-form label", (ls) => ls.map((l) => l.textContent)) };
    if (call && out.callEnabled) {
      await button.click();
      await page.locator("#answer, #call-form .error:not(:empty)").first().waitFor({ timeout: 30000 });
      out.answer = (await page.locator("#answer").count()) ? await page.locator("#answer").textContent() : null;
      out.error = (await page.locator("#call-form .error").textContent()) || null;
      await page.screenshot({ path: `${shots}/playground.png`, fullPage: true });
    }
    return out;
  },
  async audit({ q }) {
    await go("#/audit", "#audit-q");
    await page.getByLabel("Search").fill(q ?? "");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.locator("#audit-records tbody tr").first().waitFor({ timeout: 15000 });
    await page.getByRole("button", { name: "Verify the chain" }).click();
    await page.locator("#audit-verdict").filter({ hasText: /Intact|Broken|audit/ }).waitFor({ timeout: 15000 });
    await page.screenshot({ path: `${shots}/audit.png`, fullPage: true });
    return { records: await cells("#audit-records tbody tr"), verdict: await page.locator("#audit-verdict").textContent() };
  },
  // The tasks page; with `cancel`, click that task's Cancel and wait for it to show cancelled.
  async tasks({ waitTask, cancel }) {
    await go("#/tasks", null);
    if (waitTask) await page.locator(`#task-list tr[data-task="${waitTask}"]`).waitFor({ timeout: 15000 });
    if (cancel) {
      await page.getByRole("button", { name: `Cancel task ${cancel}` }).click();
      await page.locator(`#task-list tr[data-task="${cancel}"][data-status="cancelled"]`).waitFor({ timeout: 15000 });
    }
    await page.screenshot({ path: `${shots}/tasks.png`, fullPage: true });
    return {
      tasks: await page.$$eval("#task-list tbody tr", (rows) => rows.map((r) => ({
        id: r.dataset.task, status: r.dataset.status, cancellable: r.querySelector("button") !== null,
      }))),
    };
  },
  // A task's page; waits until its workflow graph shows `step` in `state`, when given.
  async task({ id, step, state, shot = "workflow-run" }) {
    await go(`#/tasks/${id}`, "#task-status");
    if (step) await page.locator(`.graph [data-step="${step}"][data-state="${state}"]`).waitFor({ timeout: 30000 });
    await page.screenshot({ path: `${shots}/${shot}.png`, fullPage: true });
    return {
      status: await page.locator("#task-status").textContent(),
      nodes: Object.fromEntries(await page.$$eval(".graph [data-step]", (ns) => ns.map((n) => [n.dataset.step, n.dataset.state]))),
      edges: await page.locator(".graph .edge").count(),
      cancellable: await page.getByRole("button", { name: /^Cancel task/ }).count() > 0,
    };
  },
  async routes() {
    await go("#/routes", "section.route, #page p");
    return { routes: await page.$$eval("section.route", (rs) => rs.map((r) => ({
      name: r.dataset.route, candidates: Array.from(r.querySelectorAll("tbody tr"), (tr) => Array.from(tr.cells, (c) => c.textContent)),
    }))) };
  },
  async keys({ create, revoke }) {
    await go("#/keys", "#key-list tbody tr");
    const out = {};
    if (create) {
      await page.getByLabel("Name", { exact: true }).fill(create[0]);
      await page.getByLabel("Role", { exact: true }).fill(create[1]);
      await page.getByRole("button", { name: "Create key" }).click();
      await page.locator("#created:not([hidden]), #new-key-error:not(:empty)").first().waitFor({ timeout: 15000 });
      out.createdKey = (await page.locator("#created-key").count()) ? await page.locator("#created-key").textContent() : null;
      out.createError = (await page.locator("#new-key-error").textContent()) || null;
    }
    if (revoke) {
      await page.getByRole("button", { name: `Revoke key ${revoke}` }).click();
      await page.locator(`#key-list tr[data-key="${revoke}"] td:nth-child(4)`).filter({ hasText: "revoked" }).waitFor({ timeout: 15000 });
    }
    out.keys = await page.$$eval("#key-list tbody tr", (rows) => rows.map((r) => ({
      name: r.cells[0].textContent, status: r.cells[3].textContent, revocable: r.querySelector("button") !== null,
    })));
    out.mayCreate = await page.locator("#new-key").count() > 0;
    await page.screenshot({ path: `${shots}/keys.png`, fullPage: true });
    return out;
  },
  // Every page in turn, by the menu (keyboard: Tab to the link, Enter), reporting the buttons
  // that act and whether they are enabled, and the page's main heading.
  async tour() {
    const out = {};
    for (const name of await page.$$eval("nav a", (as) => as.map((a) => a.textContent))) {
      await page.getByRole("link", { name, exact: true }).focus();
      await page.keyboard.press("Enter");
      await page.locator("#page h2").first().waitFor({ timeout: 15000 });
      await page.waitForTimeout(300);
      out[name] = {
        heading: await page.locator("#page h2").first().textContent(),
        current: await page.locator("nav a[aria-current=page]").textContent(),
        actions: await page.$$eval("#page button", (bs) => bs
          .filter((b) => /^(Call|Cancel|Revoke|Create key|Reload)/.test(b.textContent))
          .map((b) => ({ text: b.textContent, enabled: !b.disabled }))),
        unlabelled: await page.$$eval("#page input, #page select, #page textarea", (es) => es
          .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")).map((e) => e.id || e.name)),
      };
    }
    return out;
  },
  // The config page: the config in force; with `reload`, load the file again and report.
  async config({ reload }) {
    await go("#/config", "#config-text");
    const out = { mayReload: await page.getByRole("button", { name: "Reload from file" }).count() > 0 };
    if (reload) {
      await page.getByRole("button", { name: "Reload from file" }).click();
      await page.locator("#reload-report, #reload-outcome .error").first().waitFor({ timeout: 15000 });
      out.outcome = await page.locator("#reload-outcome").textContent();
    }
    out.config = JSON.parse(await page.locator("#config-text").textContent());
    return out;
  },
  async waitSignedOut({ timeoutMs = 20000 }) {
    await page.locator("#sign-in").waitFor({ state: "visible", timeout: timeoutMs });
    return { signedIn: await signedIn(), error: await page.locator("#sign-in-error").textContent() };
  },
  async screenshot({ name }) {
    await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
    return { saved: `${shots}/${name}.png` };
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  try {
    const cmd = JSON.parse(line);
    const run = commands[cmd.do];
    answer = run ? await run(cmd) : { failed: `no command ${cmd.do}` };
  } catch (e) {
    answer = { failed: String(e.message || e).split("\n").slice(0, 6).join("\n") };
    await page.screenshot({ path: `${shots}/failed.png`, fullPage: true }).catch(() => {});
  }
  answer.pageErrors = [...errors];
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await browser.close();
