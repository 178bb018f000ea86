/**
 * `deno task compile`: builds `dist/gateway` and `dist/worker` with `deno compile`, baking in the
 * same permission flags as the `gateway` and `worker` tasks of deno.json (read from there, so they
 * are written once).
 *
 * `deno compile` needs the `denort` runtime of the running Deno version. It downloads it unless
 * `DENORT_BIN` names one; where neither works (this machine reaches no download host), this says
 * so and exits 1 — it never leaves a binary it has not run. Each binary is smoke-run after
 * building: `worker --help` and `gateway` with a bad `PORT` must answer as our code does.
 */
const ROOT = new URL("../", import.meta.url).pathname;
const say = (line: string) => console.error(`[compile] ${line}`);

/** The permission flags of a `deno run … <entry>` task in deno.json. */
export function permissionFlags(task: string): string[] {
  return task.split(/\s+/).filter((word) => /^--(allow|deny)-/.test(word));
}

const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
  tasks?: Record<string, string>;
};
const targets = [
  {
    name: "gateway",
    entry: "gateway/main.ts",
    smoke: { args: [], env: { PORT: "not-a-port" }, expect: /PORT/ },
  },
  {
    name: "worker",
    entry: "workers/main.ts",
    smoke: { args: ["--help"], env: {}, expect: /--role/ },
  },
] as const;

await Deno.mkdir(`${ROOT}dist`, { recursive: true });
for (const t of targets) {
  const task = config.tasks?.[t.name];
  if (task === undefined) {
    say(`deno.json has no "${t.name}" task to take permission flags from`);
    Deno.exit(1);
  }
  const flags = permissionFlags(task);
  const out = `${ROOT}dist/${t.name}`;
  say(`deno compile ${flags.join(" ")} -o dist/${t.name} ${t.entry}`);
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["compile", ...flags, "-o", out, `${ROOT}${t.entry}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(built.stderr) + new TextDecoder().decode(built.stdout);
  if (!built.success || /error/i.test(text) && !(await exists(out))) {
    const network = /dns error|failed to lookup|Download|denort/i.test(text);
    say(
      network
        ? `cannot compile here: deno compile needs the denort runtime for Deno ${Deno.version.deno}, ` +
          "which it downloads and this machine cannot; set DENORT_BIN to a denort binary of that version " +
          "(the container build in infra/Dockerfile has network and does this)"
        : `deno compile failed for ${t.entry}`,
    );
    console.error(text.trim().split("\n").slice(-8).join("\n"));
    Deno.exit(1);
  }
  const smoke = await new Deno.Command(out, {
    args: [...t.smoke.args],
    env: t.smoke.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const said = new TextDecoder().decode(smoke.stdout) + new TextDecoder().decode(smoke.stderr);
  if (!t.smoke.expect.test(said)) {
    say(
      `dist/${t.name} was built but does not run our code (is DENORT_BIN a real denort?): ${
        said.slice(0, 300)
      }`,
    );
    await Deno.remove(out).catch(() => {});
    Deno.exit(1);
  }
  say(`dist/${t.name} built and answers as expected`);
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
