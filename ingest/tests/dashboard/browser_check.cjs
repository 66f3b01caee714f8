// Drive the dashboard in headless Chromium (Debian's) with playwright-core; print one JSON line.
// Usage: node browser_check.cjs <base url> <chromium path> <artifacts dir>
"use strict";
const { chromium } = require("playwright-core");

const [base, executablePath, out] = process.argv.slice(2);
const ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
  "--disable-background-networking", "--disable-component-update"];

async function idleAfter(page, action) {
  await page.evaluate(() => { document.body.dataset.mapIdle = ""; });
  await action();
  await page.waitForFunction(() => document.body.dataset.mapIdle === "1", null, { timeout: 20000 });
}

(async () => {
  const browser = await chromium.launch({ executablePath, args: ARGS, headless: true });
  const result = { console: [], requests_outside: [] };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("console", (m) => { if (m.type() === "error") result.console.push(m.text()); });
    page.on("pageerror", (e) => result.console.push(String(e)));
    page.on("response", (r) => { if (r.status() >= 400) result.console.push(r.status() + " " + r.url()); });
    page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) result.requests_outside.push(r.url()); });
    await page.goto(base + "/dashboard/?ind=iri&period=week", { waitUntil: "load" });
    await page.waitForFunction(() => document.body.dataset.ready === "1" && document.body.dataset.mapIdle === "1", null, { timeout: 30000 });
    result.rendered = await page.evaluate(() => window.facteurMap.queryRenderedFeatures({ layers: ["segments"] }).length);
    result.legend_iri = await page.textContent("#legend");
    await page.screenshot({ path: out + "/dashboard-iri.png" });

    await idleAfter(page, () => page.selectOption("#indicator", "pm25"));
    result.legend_pm25 = await page.textContent("#legend");
    result.url_after_indicator = page.url();
    await page.screenshot({ path: out + "/dashboard-pm25.png" });

    const first = page.locator("#priority li").first();
    result.priority_count = await page.locator("#priority li").count();
    result.priority_sid = await first.getAttribute("data-sid");
    result.priority_text = await first.textContent();
    await idleAfter(page, () => first.click());
    await page.waitForFunction(() => !document.getElementById("detail").hidden && document.getElementById("detail-title"), null, { timeout: 10000 });
    result.url_after_priority = page.url();
    result.detail_sid = await page.getAttribute("#detail", "data-sid");
    result.detail_title = await page.textContent("#detail-title");
    result.series_svg = await page.locator("#series").count();
    result.selected_rendered = await page.evaluate(() => window.facteurMap.queryRenderedFeatures({ layers: ["selected"] }).length);
    result.center = await page.evaluate(() => window.facteurMap.getCenter().toArray());
    result.zoom = await page.evaluate(() => window.facteurMap.getZoom());
    await page.screenshot({ path: out + "/dashboard-priority.png" });

    // Clicking a segment on the map opens its detail too.
    const px = await page.evaluate(() => {
      const m = window.facteurMap;
      const w = m.getCanvas().clientWidth, h = m.getCanvas().clientHeight;
      for (const f of m.queryRenderedFeatures({ layers: ["segments"] })) {
        const g = f.geometry.coordinates;
        const p = m.project([(g[0][0] + g[g.length - 1][0]) / 2, (g[0][1] + g[g.length - 1][1]) / 2]);
        if (p.x < 20 || p.x > w - 420 || p.y < 20 || p.y > h - 20) continue;
        const under = m.queryRenderedFeatures([p.x, p.y], { layers: ["segments"] });
        if (under.length) return { x: p.x, y: p.y, sids: under.map((u) => u.properties.sid) };
      }
      return { x: 0, y: 0, sids: [] };
    });
    const box = await page.locator("#map").boundingBox();
    await page.mouse.click(box.x + px.x, box.y + px.y);
    await page.waitForFunction((sids) => sids.includes(document.getElementById("detail").dataset.sid), px.sids, { timeout: 10000 }).catch(() => {});
    result.clicked_sids = px.sids;
    result.detail_sid_after_click = await page.getAttribute("#detail", "data-sid");

    await page.click("#nav-replay");
    await page.waitForFunction(() => Number(document.getElementById("replay-slider").max) > 0, null, { timeout: 15000 });
    await idleAfter(page, () => page.locator("#replay-slider").fill("600"));
    result.replay_info = await page.textContent("#replay-info");
    result.url_replay = page.url();
    await page.screenshot({ path: out + "/dashboard-replay.png" });

    await page.click("#nav-fleet");
    await page.waitForSelector("#fleet-devices tbody tr");
    result.fleet_rows = await page.locator("#fleet-devices tbody tr").count();
    result.fleet_text = await page.textContent("#fleet-devices");
    await page.screenshot({ path: out + "/dashboard-fleet.png" });
  } catch (e) {
    result.error = String(e && e.stack || e);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result) + "\n");
})();
