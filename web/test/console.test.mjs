// End-to-end test of the strata console in headless Chromium (Debian's
// chromium package, driven by playwright-core; no browser is downloaded).
//
//   node test/console.test.mjs BASE_URL [--key API_KEY] [--prefix P] [--screenshots DIR]
//
// BASE_URL is a running strata's HTTP address (http://127.0.0.1:8080). The
// caller (e2e/console_test.go) drives load on the node while this runs and
// creates the keys P+"json" (a JSON value) and P+"text". With --key the node
// is expected to require API keys: the console must first show the 401 as a
// message, then work once the key is entered. Exit status 0 means pass; the
// last line is "N passed, N failed".
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const base = args[0]?.replace(/\/$/, "");
const opt = (name) => {
  const i = args.indexOf(name);
  return i > 0 ? args[i + 1] : undefined;
};
if (!base || !/^https?:\/\//.test(base)) {
  console.error("usage: node test/console.test.mjs BASE_URL [--key API_KEY] [--prefix P] [--screenshots DIR]");
  process.exit(2);
}
const key = opt("--key");
const prefix = opt("--prefix") ?? "console:e2e:";
const shots = opt("--screenshots");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";

const results = [];
async function step(name, fn) {
  const start = Date.now();
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name} (${Date.now() - start} ms)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name} (${Date.now() - start} ms): ${e?.stack ?? e}`);
    throw e;
  }
}

async function waitFor(what, fn, timeout = 30000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

const profile = mkdtempSync(join(tmpdir(), "strata-console-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10000);
  const consoleErrors = [];
  page.on("pageerror", (e) => consoleErrors.push(e.message));
  page.on("dialog", (d) => d.accept());
  const snap = async (name) => {
    if (!shots) return;
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, `${name}.png`) });
  };

  await step("the console loads from /ui/ (embedded assets)", async () => {
    const res = await page.goto(`${base}/ui/`);
    if (!res || res.status() !== 200) throw new Error(`GET /ui/: ${res?.status()}`);
    await page.getByRole("tab", { name: "Overview" }).waitFor();
  });

  if (key) {
    await step("a server error (401 without a key) is shown as a message", async () => {
      const alert = page.getByRole("alert");
      await waitFor("the 401 message", async () => /401/.test(await alert.innerText()));
      const text = await alert.innerText();
      if (!/API key/.test(text)) throw new Error(`message does not say what to do: ${text}`);
      await snap("error");
    });
    await step("entering the admin key starts the live view", async () => {
      await page.getByLabel("API key (admin scope)").fill(key);
      await page.getByRole("button", { name: "Use key" }).click();
      await waitFor("the error to clear", async () => ((await page.locator("#errors").textContent()) ?? "").trim() === "");
    });
  }

  await step("overview numbers move while load runs", async () => {
    const total = page.getByTestId("total");
    const read = async () => Number((await total.innerText()).replace(/[^0-9]/g, ""));
    const first = await waitFor("a first stats sample", async () => {
      const v = await read();
      return Number.isFinite(v) && (await total.innerText()) !== "–" ? v : 0;
    });
    const second = await waitFor("commands total to grow", async () => {
      const v = await read();
      return v > first ? v : 0;
    });
    await waitFor("ops/s above zero", async () => Number((await page.getByTestId("ops").innerText()).replace(/[^0-9.]/g, "")) > 0);
    await waitFor("commands total to grow again", async () => (await read()) > second);
    // uPlot has drawn the charts (a canvas each), fed by at least two samples.
    await waitFor("four charts", async () => (await page.locator(".chart canvas").count()) === 4);
    await page.waitForTimeout(2500); // a few points on the charts for the screenshot
    await snap("overview");
  });

  await step("a key is found by prefix, inspected (JSON pretty-printed) and deleted", async () => {
    await page.getByRole("tab", { name: "Keys" }).click();
    await page.getByLabel("Key prefix").fill(prefix);
    await page.getByRole("button", { name: "Find keys" }).click();
    const btn = page.getByRole("button", { name: `Inspect key ${prefix}json`, exact: true });
    await btn.waitFor({ timeout: 10000 });
    const rows = await page.locator("#keys-table tbody tr").count();
    if (rows !== 2) throw new Error(`prefix ${prefix} found ${rows} rows, want 2`);
    await btn.click();
    const value = page.getByLabel("Value preview");
    await waitFor("the pretty-printed value", async () => (await value.innerText()).includes('\n  "name": "Ada"'));
    const explain = await page.getByRole("table", { name: "Explain" }).innerText();
    if (!/present/.test(explain)) throw new Error(`explain view lacks state present: ${explain}`);
    await snap("keys");
    await page.getByRole("button", { name: "Delete key" }).click();
    await waitFor("the row to go", async () => (await btn.count()) === 0);
    const status = await page.evaluate(
      async ([url, k]) => (await fetch(url, { headers: k ? { Authorization: `Bearer ${k}` } : {} })).status,
      [`${base}/v1/kv/${encodeURIComponent(prefix + "json")}`, key],
    );
    if (status !== 404) throw new Error(`after delete, GET answered ${status}, want 404`);
  });

  await step("resources, freshness and fleet say plainly what is not configured", async () => {
    for (const [tab, text, shot] of [
      ["Resources", /No resources configured|resource/, "resources"],
      ["Freshness", /WAL invalidation is not configured|lag/i, "freshness"],
      ["Fleet", /Single node: no L2 configured|node/, "fleet"],
    ]) {
      await page.getByRole("tab", { name: tab }).click();
      const panel = page.getByRole("tabpanel", { name: tab });
      await waitFor(`${tab} text`, async () => text.test(await panel.innerText()));
      await snap(shot);
    }
  });

  await step("the slow log screen lists entries from /v1/slowlog", async () => {
    await page.getByRole("tab", { name: "Slow log" }).click();
    const panel = page.getByRole("tabpanel", { name: "Slow log" });
    await waitFor("the slow log", async () => /commands slower than|disabled/.test(await panel.innerText()));
    await snap("slowlog");
  });

  await step("tabs are keyboard-usable (arrow keys move between screens)", async () => {
    await page.getByRole("tab", { name: "Overview" }).click();
    await page.keyboard.press("ArrowRight");
    const sel = await page.getByRole("tab", { selected: true }).innerText();
    if (sel !== "Keys") throw new Error(`ArrowRight from Overview selected ${sel}`);
  });

  await step("no uncaught errors in the page", async () => {
    if (consoleErrors.length) throw new Error(consoleErrors.join("\n"));
  });
} catch {
  // reported by step
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 || results.length === 0 ? 1 : 0);
