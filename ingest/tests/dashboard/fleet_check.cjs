// The dashboard's fleet page in headless Chromium: print the devices table as JSON (one line).
// Usage: node fleet_check.cjs <base url> <chromium path> <artifacts dir>
"use strict";
const { chromium } = require("playwright-core");

const [base, executablePath, out] = process.argv.slice(2);
const ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
  "--disable-background-networking", "--disable-component-update"];

(async () => {
  const browser = await chromium.launch({ executablePath, args: ARGS, headless: true });
  const result = { console: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (e) => result.console.push(String(e)));
    page.on("dialog", (d) => { result.console.push("dialog: " + d.message()); d.dismiss(); });
    await page.goto(base + "/dashboard/", { waitUntil: "load" });
    await page.click("#nav-fleet");
    await page.waitForSelector("#fleet-devices tbody tr td");
    result.headers = await page.$$eval("#fleet-devices thead th", (ths) => ths.map((th) => th.textContent));
    result.rows = await page.$$eval("#fleet-devices tbody tr", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => ({ text: td.textContent, bad: td.className === "bad" }))));
    result.injected = await page.locator("#fleet-devices img, #fleet-devices i").count();
    await page.screenshot({ path: out + "/dashboard-fleet-firmware.png" });
  } catch (e) {
    result.error = String(e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
