/**
 * A headless browser for the tests of the web page: Debian's Chromium (`chromium-headless-shell`
 * or `chromium`, installed with apt by the test command, infra/check.ts) driven by npm `playwright-core`, which downloads
 * no browser of its own.
 *
 * A missing Chromium fails the browser tests with the reason and the command that installs it;
 * `SKIP_BROWSER_TESTS=1` is the one explicit way to leave them out.
 */
import fs from "node:fs";
import type { BrowserContext } from "playwright-core";

const ROOT = new URL("../", import.meta.url).pathname;

/** Where the tests save their screenshots (ignored by git; `docs/screenshots/` holds the README's). */
export const SCREENSHOT_DIR = `${ROOT}.cache/screenshots`;

/** Where Chromium is looked for, in order, unless `CHROMIUM_PATH` names it. */
export const CHROMIUM_CANDIDATES = [
  "/usr/bin/chromium-headless-shell",
  "/usr/bin/chromium",
] as const;

/** Chromium's flags: headless, no sandbox (root in CI), and nothing that reaches the network. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
] as const;

/** Debian's packages the browser tests need: the headless Chromium and a font to render text. */
export const INSTALL_PACKAGES = ["chromium-headless-shell", "fonts-dejavu-core"] as const;

/** The command that installs Chromium on Debian. */
export const INSTALL_HINT =
  "apt-get install -y chromium-headless-shell fonts-dejavu-core (as root; the test command does it)";

/**
 * Finds the Chromium binary.
 *
 * @param env `CHROMIUM_PATH` and `SKIP_BROWSER_TESTS`, as read from the environment.
 * @param exists Whether a file exists. @default a `Deno.statSync` probe
 * @returns The path, `{ skip }` when the tests are explicitly left out, or `{ missing }` with the
 * reason.
 *
 * @example
 * ```ts
 * import { findChromium } from "./browser.ts";
 * findChromium({ CHROMIUM_PATH: "/opt/chrome" }, () => true); // { path: "/opt/chrome" }
 * ```
 */
export function findChromium(
  env: { CHROMIUM_PATH?: string | undefined; SKIP_BROWSER_TESTS?: string | undefined },
  exists: (path: string) => boolean = (path) => {
    try {
      return Deno.statSync(path).isFile;
    } catch {
      return false;
    }
  },
): { path: string } | { skip: string } | { missing: string } {
  if (env.SKIP_BROWSER_TESTS === "1") {
    return { skip: "SKIP_BROWSER_TESTS=1: the browser tests are left out on purpose" };
  }
  if (env.CHROMIUM_PATH) {
    if (exists(env.CHROMIUM_PATH)) return { path: env.CHROMIUM_PATH };
    return {
      missing:
        `Cannot run the browser tests: CHROMIUM_PATH names no file: current value is "${env.CHROMIUM_PATH}"`,
    };
  }
  const found = CHROMIUM_CANDIDATES.find((path) => exists(path));
  if (found !== undefined) return { path: found };
  return {
    missing: `Cannot run the browser tests: no Chromium at ${
      CHROMIUM_CANDIDATES.join(" or ")
    }; install it with ${INSTALL_HINT}, set CHROMIUM_PATH, or set SKIP_BROWSER_TESTS=1 to leave them out`,
  };
}

/**
 * Loads playwright-core. At load it probes `/proc/sys/fs/binfmt_misc/WSLInterop` to detect WSL,
 * and Deno grants nothing under `/proc/sys` short of `--allow-all`, which the test run does not
 * have (its network is loopback only). So that one probe answers "absent" (it matters only for
 * opening a browser on a Windows host, never for a headless Chromium on Linux).
 */
async function loadPlaywright(): Promise<typeof import("playwright-core")> {
  const existsSync = fs.existsSync;
  fs.existsSync = (path) =>
    String(path).startsWith("/proc/sys/fs/binfmt_misc/") ? false : existsSync(path);
  try {
    return await import("playwright-core");
  } finally {
    fs.existsSync = existsSync;
  }
}

/** A running browser with one fresh profile. */
export interface RunningBrowser {
  context: BrowserContext;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Starts Chromium with a fresh profile in a temporary folder.
 *
 * @param path The binary, from {@linkcode findChromium}.
 * @param options Viewport. @default 1280×900
 * @returns The browser context and how to close it.
 */
export async function launchBrowser(
  path: string,
  options: { width?: number; height?: number } = {},
): Promise<RunningBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "despacho-chromium-" });
  const { chromium } = await loadPlaywright();
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: path,
    headless: true,
    args: [...CHROMIUM_FLAGS],
    viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
    locale: "es-CL",
    timezoneId: "America/Santiago",
    timeout: 120_000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}
