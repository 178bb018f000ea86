/**
 * A reference HTTP/1.1 server for differential tests of the gateway's own parser
 * (`gateway/http1_differential_test.ts`): Node's `node:http` (llhttp, strict mode) in a child
 * `node` process when `node` is installed, else `Deno.serve` (hyper) in this process. Both answer
 * an accepted request `200` with `x-probe: METHOD PATH` and the body they read.
 */

/** A running reference server. */
export interface ReferenceServer {
  /** Which parser answers, with its version: `node v20.20.2 (llhttp 9.3.1)`. */
  name: string;
  port: number;
  /** Stops it and waits until it has stopped. */
  stop(): Promise<void>;
}

const SCRIPT = new URL("./llhttp_reference.mjs", import.meta.url).pathname;

/** How long the reference server may take to say its port. */
const START_TIMEOUT_MS = 60_000;

/**
 * Starts the reference server on a free port of 127.0.0.1.
 *
 * @param node Where `node` is. @default the first `node` on `PATH`; `Deno.serve` when there is none
 * @returns The running server.
 * @throws {Error} When `node` starts but does not say its port.
 */
export async function startReferenceServer(
  node: string | undefined = nodeOnPath(),
): Promise<ReferenceServer> {
  // Deno puts a `node` of its own on its children's PATH when there is none (its Node
  // compatibility, answering with a Node version): the script says when it runs on Deno.
  if (node === undefined) return denoReference("node not found");
  const child = new Deno.Command(node, {
    args: [SCRIPT],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  // A node that starts in well under a second here; a starved machine gets a minute, then the
  // child is ended and the test says why instead of hanging.
  const stalled = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* ended already */ }
  }, START_TIMEOUT_MS);
  try {
    while (!first.includes("\n")) {
      const { done, value } = await lines.read();
      if (done) {
        await child.status;
        throw new Error(
          `Cannot start the node reference server: it printed "${first}" and exited (or did not say its port within ${START_TIMEOUT_MS} ms)`,
        );
      }
      first += value;
    }
  } finally {
    clearTimeout(stalled);
  }
  // Read to the end, so a later line never blocks the child on a full pipe.
  void (async () => {
    while (!(await lines.read()).done);
  })();
  const { port, node: version, llhttp, deno } = JSON.parse(first);
  const stdin = child.stdin.getWriter();
  if (deno !== undefined) {
    await stdin.close().catch(() => {});
    await child.status;
    return denoReference(`${node} is Deno ${deno}'s Node compatibility, not Node`);
  }
  return {
    name: `node ${version} (llhttp ${llhttp})`,
    port,
    async stop() {
      // The child exits when its stdin ends; it never outlives the test.
      await stdin.close().catch(() => {});
      await child.status;
    },
  };
}

function nodeOnPath(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      if (Deno.statSync(`${dir}/node`).isFile) return `${dir}/node`;
    } catch {
      // Not in this one.
    }
  }
  return undefined;
}

function denoReference(why: string): ReferenceServer {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = new Uint8Array(await request.arrayBuffer());
      return new Response(body, {
        headers: {
          "content-type": "application/octet-stream",
          "x-probe": `${request.method} ${new URL(request.url).pathname}`,
        },
      });
    },
  );
  return {
    name: `Deno.serve ${Deno.version.deno} (hyper), ${why}`,
    port: server.addr.port,
    stop: () => server.shutdown(),
  };
}
