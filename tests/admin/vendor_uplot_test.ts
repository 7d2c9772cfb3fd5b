// The vendored uPlot (src/admin/vendor/uplot.ts) is exactly the installed package's build:
// regenerate with scripts/vendor_uplot.ts when this fails.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../_support/helpers.ts";
import { UPLOT_CSS, UPLOT_JS, UPLOT_VERSION } from "../../src/admin/vendor/uplot.ts";
import { DASHBOARD_HTML } from "../../src/admin/dashboard.ts";

const DIR = join(ROOT, "node_modules/uplot");
const skip = existsSync(join(DIR, "dist")) ? false : "node_modules/uplot is not installed";

describe("vendored uPlot", { skip }, () => {
  it("matches node_modules/uplot's dist files and version", () => {
    const pkg = JSON.parse(readFileSync(join(DIR, "package.json"), "utf8"));
    assert.equal(UPLOT_VERSION, pkg.version);
    assert.equal(UPLOT_JS, readFileSync(join(DIR, "dist/uPlot.iife.min.js"), "utf8"));
    assert.equal(UPLOT_CSS, readFileSync(join(DIR, "dist/uPlot.min.css"), "utf8"));
  });
});

describe("dashboard page", () => {
  it("carries uPlot inline and loads nothing from elsewhere", () => {
    assert.ok(DASHBOARD_HTML.includes(UPLOT_CSS));
    assert.ok(DASHBOARD_HTML.includes("var uPlot=function()"));
    assert.doesNotMatch(DASHBOARD_HTML, /<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/cdn/i);
  });
});
