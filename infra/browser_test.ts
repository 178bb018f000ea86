import assert from "node:assert/strict";
import { CHROMIUM_CANDIDATES, findChromium } from "./browser.ts";

Deno.test("findChromium() finds Debian's Chromium, honours CHROMIUM_PATH, and names the fix when it is missing", async (t) => {
  const [shell, full] = CHROMIUM_CANDIDATES;
  const cases: {
    name: string;
    env: { CHROMIUM_PATH?: string; SKIP_BROWSER_TESTS?: string };
    files: string[];
    want: ReturnType<typeof findChromium>;
  }[] = [
    { name: "the headless shell first", env: {}, files: [shell, full], want: { path: shell } },
    { name: "full chromium", env: {}, files: [full], want: { path: full } },
    {
      name: "CHROMIUM_PATH",
      env: { CHROMIUM_PATH: "/opt/chrome" },
      files: ["/opt/chrome", shell],
      want: { path: "/opt/chrome" },
    },
    {
      name: "CHROMIUM_PATH naming no file",
      env: { CHROMIUM_PATH: "/opt/none" },
      files: [shell],
      want: {
        missing:
          'Cannot run the browser tests: CHROMIUM_PATH names no file: current value is "/opt/none"',
      },
    },
    {
      name: "the explicit opt-out",
      env: { SKIP_BROWSER_TESTS: "1" },
      files: [],
      want: { skip: "SKIP_BROWSER_TESTS=1: the browser tests are left out on purpose" },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.deepEqual(findChromium(c.env, (path) => c.files.includes(path)), c.want);
    });
  }
  await t.step("none installed", () => {
    const found = findChromium({}, () => false);
    assert.ok("missing" in found);
    assert.match(found.missing, /^Cannot run the browser tests: no Chromium at /);
    assert.match(found.missing, /apt-get install -y chromium-headless-shell/);
    assert.match(found.missing, /SKIP_BROWSER_TESTS=1/);
  });
});
