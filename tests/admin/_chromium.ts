// Debian's Chromium driven by playwright-core, for the dashboard tests: whether it can run here
// (`skip`), one way to launch it, and where screenshots go (tests/artifacts/, git-ignored).
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../_support/helpers.ts";

type PW = typeof import("playwright-core");
export type Browser = Awaited<ReturnType<PW["chromium"]["launch"]>>;
export type Page = Awaited<ReturnType<Browser["newPage"]>>;

const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = join(ROOT, "tests/artifacts");

let pw: PW | undefined;
try {
  pw = await import("playwright-core");
} catch {
  pw = undefined;
}

/** Why the browser tests cannot run here, or false. */
export const skip = !pw
  ? "playwright-core is not installed"
  : !existsSync(CHROMIUM)
  ? `${CHROMIUM} is not installed`
  : false;

/** Headless Chromium with no network chatter of its own; makes the artifacts folder. */
export function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return pw!.chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    // playwright adds --headless and a fresh profile directory of its own.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
