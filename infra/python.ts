/**
 * Python programs the project runs beside its own (the second report's producer, the Spark
 * comparison's job): a package from PyPI installed with pip into a virtual environment under
 * `.cache/`, once, saying what it does and how long it has taken every 15 s. A step that cannot be
 * done throws one sentence naming what is missing.
 */

/** What a command printed, and how it ended. */
export interface ToolRun {
  success: boolean;
  code: number;
  /** Standard output and error, interleaved as they came. */
  text: string;
}

/**
 * Runs a command to its end, saying every 15 s how long it has run.
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @param progress Where and how to say it is still running (`say`, a prefix and what it does).
 * @param line Each non-blank line of output, as it comes.
 * @returns Its exit and output.
 * @throws {Deno.errors.NotFound} When `cmd` is not installed.
 */
export async function runTool(
  cmd: string,
  args: string[],
  progress?: { say: (line: string) => void; prefix: string; doing: string },
  line?: (text: string) => void,
): Promise<ToolRun> {
  const started = Date.now();
  const ticker = progress
    ? setInterval(
      () =>
        progress.say(
          `${progress.prefix}: still ${progress.doing}: ${
            Math.round((Date.now() - started) / 1000)
          } s so far`,
        ),
      15_000,
    )
    : undefined;
  try {
    const child = new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
    let text = "";
    const read = async (stream: ReadableStream<Uint8Array>) => {
      let rest = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const p of parts) if (p.trim()) line?.(p.trim());
      }
    };
    const [status] = await Promise.all([child.status, read(child.stdout), read(child.stderr)]);
    return { success: status.success, code: status.code, text };
  } finally {
    clearInterval(ticker);
  }
}

/** A PyPI package pinned to a version, and the venv it lives in. */
export interface VenvPackage {
  /** The venv's folder (under `.cache/`). */
  venv: string;
  /** The name pip installs (`pyspark`, `kafka-python`). */
  pkg: string;
  /** The name Python imports (`pyspark`, `kafka`). */
  module: string;
  version: string;
  /** Prefix of progress lines (`spark`, `report`). */
  prefix: string;
  /** What the download is like, for the first run's line ("a 450 MB download…"). */
  size?: string;
}

/**
 * Makes sure `python3` (3.10 or newer) has a venv with the package at its version, creating the
 * venv and installing it with pip when missing (first run only).
 *
 * @param p The package and its venv.
 * @param say Progress lines.
 * @returns The venv's Python.
 * @throws {Error} When python3 3.10+ with venv and pip is missing, or pip fails; the message names
 * what to install or pip's last output.
 */
export async function ensureVenvPackage(
  p: VenvPackage,
  say: (line: string) => void,
): Promise<string> {
  const python = `${p.venv}/bin/python`;
  const installed = await runTool(python, [
    "-c",
    `import importlib.metadata as m; print(m.version(${JSON.stringify(p.pkg)}))`,
  ]).catch(() => null);
  if (installed?.success && installed.text.trim() === p.version) return python;

  const system = await runTool("python3", [
    "-c",
    "import sys; print('%d.%d' % sys.version_info[:2])",
  ]).catch(() => null);
  const version = system?.text.trim() ?? "";
  const [major, minor] = version.split(".").map(Number);
  if (!system?.success || !(major === 3 && minor! >= 10)) {
    throw new Error(
      `Cannot install ${p.pkg} ${p.version}: it needs python3 3.10 or newer on PATH: current value is ${
        system?.success ? version : "no python3"
      }`,
    );
  }
  say(
    `${p.prefix}: installing ${p.pkg}==${p.version} from PyPI into ${p.venv} with pip (first run only${
      p.size ? `: ${p.size}` : ""
    })…`,
  );
  await Deno.remove(p.venv, { recursive: true }).catch(() => {});
  const progress = (doing: string) => ({ say, prefix: p.prefix, doing });
  const venv = await runTool("python3", ["-m", "venv", p.venv], progress("creating the venv"));
  if (!venv.success) {
    throw new Error(
      `Cannot create a Python venv in ${p.venv} (on Debian: apt-get install python3-venv): exit code ${venv.code}: ${
        venv.text.slice(-1000).trim()
      }`,
    );
  }
  const pip = await runTool(
    python,
    [
      "-m",
      "pip",
      "install",
      "--disable-pip-version-check",
      "--progress-bar",
      "off",
      `${p.pkg}==${p.version}`,
    ],
    progress(`installing ${p.pkg}==${p.version}`),
    (line) => say(`${p.prefix}: pip: ${line}`),
  );
  if (!pip.success) {
    await Deno.remove(p.venv, { recursive: true }).catch(() => {});
    throw new Error(
      `Cannot install ${p.pkg}==${p.version} from PyPI with pip: exit code ${pip.code}: ${
        pip.text.slice(-2000).trim()
      }`,
    );
  }
  const check = await runTool(python, ["-c", `import ${p.module}`]);
  if (!check.success) {
    throw new Error(
      `Cannot import ${p.module} after installing ${p.pkg}==${p.version}: ${
        check.text.slice(-1000).trim()
      }`,
    );
  }
  say(`${p.prefix}: ${p.pkg} ${p.version} installed in ${p.venv}`);
  return python;
}
