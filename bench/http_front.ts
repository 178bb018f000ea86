/**
 * `deno task bench:http`: the gateway's HTTP cost alone, without Kafka. The order API on the real
 * root app (`orderApp`, infra/test_gateway.ts) runs in a child process behind each HTTP server
 * (`HTTP_SERVER=strict`, ours, and `deno`, `Deno.serve`) with a publisher that acknowledges at
 * once; `--clients` fetch loops POST valid orders for `--seconds` after a one-second warm-up. It
 * prints accepted POST/s and the server's CPU time per 1,000 requests (from /proc, Linux). The
 * client shares the machine's cores with the server, so POST/s is a floor; CPU per request is the
 * fairer comparison. Rounds alternate servers.
 *
 * usage: deno task bench:http [--servers strict,deno] [--seconds 5] [--clients 64] [--rounds 3]
 */
import { parseArgs } from "node:util";
import { procStat, spawnDeno } from "../infra/process.ts";
import { postOrdersUntil } from "./closed_loop.ts";

const FLAGS = ["--allow-net=127.0.0.1", "--allow-env", "--allow-read"];

async function serve(server: string): Promise<void> {
  const { loadConfig } = await import("../lib/config.ts");
  const { createLogger } = await import("../lib/log.ts");
  const { OrderView } = await import("../gateway/order_view.ts");
  const { Admission } = await import("../gateway/admission.ts");
  const { orderApp } = await import("../infra/test_gateway.ts");
  const { serveApp } = await import("../gateway/server.ts");
  const config = loadConfig({ PORT: "0", HTTP_SERVER: server });
  const publisher = { ready: () => true, publish: () => Promise.resolve() };
  const app = orderApp({
    config,
    admission: new Admission(publisher, {
      maxPending: config.MAX_PENDING_PUBLISHES,
      ackTimeoutMs: config.KAFKA_ACK_TIMEOUT_MS,
    }),
    view: new OrderView(),
    log: createLogger("bench-http", "error", () => {}),
  });
  const listening = serveApp(app, config);
  console.error(`listening on port ${listening.addr.port}`);
}

async function round(server: string, seconds: number, clients: number) {
  const proc = await spawnDeno(
    `http-${server}`,
    ["run", ...FLAGS, "bench/http_front.ts", "--serve", server],
    {},
    /listening on port \d+/,
  );
  try {
    const port = proc.tail().match(/listening on port (\d+)/)![1];
    const url = `http://127.0.0.1:${port}`;
    await postOrdersUntil(url, clients, performance.now() + 1000);
    const before = (await procStat(proc.child.pid)).cpuS;
    const started = performance.now();
    const { accepted, refused } = await postOrdersUntil(url, clients, started + seconds * 1000);
    const elapsed = (performance.now() - started) / 1000;
    const after = (await procStat(proc.child.pid)).cpuS;
    // NaN when the server's /proc could not be read (not Linux, or it is gone).
    const cpu = after - before;
    const cpuMsPer1000 = Number.isNaN(cpu) ? null : (cpu * 1000) / (accepted / 1000);
    return { server, accepted, refused, perSec: accepted / elapsed, cpuMsPer1000 };
  } finally {
    await proc.stop();
  }
}

if (import.meta.main) {
  const a = parseArgs({
    args: Deno.args,
    options: {
      serve: { type: "string" },
      servers: { type: "string", default: "strict,deno" },
      seconds: { type: "string", default: "5" },
      clients: { type: "string", default: "64" },
      rounds: { type: "string", default: "3" },
    },
  }).values;
  if (a.serve !== undefined) {
    await serve(a.serve);
  } else {
    const servers = a.servers.split(",");
    const results: Awaited<ReturnType<typeof round>>[] = [];
    for (let r = 0; r < Number(a.rounds); r++) {
      for (const server of servers) {
        const result = await round(server, Number(a.seconds), Number(a.clients));
        results.push(result);
        console.log(
          `${server.padEnd(6)} ${result.perSec.toFixed(0).padStart(6)} POST/s  ` +
            `${
              result.cpuMsPer1000?.toFixed(1) ?? "?"
            } ms CPU per 1,000  (${result.refused} refused)`,
        );
      }
    }
    for (const server of servers) {
      const mine = results.filter((r) => r.server === server);
      const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
      console.log(
        `median ${server}: ${median(mine.map((r) => r.perSec)).toFixed(0)} POST/s, ${
          median(mine.map((r) => r.cpuMsPer1000 ?? NaN)).toFixed(1)
        } ms CPU per 1,000 requests`,
      );
    }
    // The fetch client's idle connections would keep the process up for a minute.
    Deno.exit(0);
  }
}
