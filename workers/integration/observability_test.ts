/**
 * Metrics and traces of the real system: the gateway and the three roles run as their `deno task`s
 * (the permission flags of `deno task start`), with `METRICS_PORT` on every worker and Deno's
 * built-in OpenTelemetry on (`OTEL_DENO=true`), exporting OTLP/HTTP JSON to a tiny receiver here.
 * After a few orders and purchase events, each `/metrics` is scraped and parsed with a Prometheus
 * text parser (npm `@platformatic/promotel`), and the spans of one order are followed across
 * every hop.
 */
import { ACCESS_ENV, STAFF_HEADERS } from "../../infra/test_access.ts";
import assert from "node:assert/strict";
import { parse } from "@platformatic/promotel";
import { type Proc, spawnDeno } from "../../infra/process.ts";
import {
  produce,
  readTopic,
  testBrokers,
  testClientName,
  topicEnv,
  type TopicRecord,
  uniqueName,
  until,
} from "../../infra/testing.ts";
import { traceIdOf } from "../../lib/tracing.ts";
import { startSmtp } from "../../infra/smtp.ts";

/** One sample of a scrape: its full name (`x_bucket` for a bucket), labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed scrape. */
interface Scrape {
  samples: Sample[];
  /** Metric family → type (`counter`, `gauge`, `histogram`). */
  types: Map<string, string>;
  /** Sample lines of the text, to check that the parser read every one. */
  lines: number;
}

const TYPES = ["unknown", "counter", "gauge", "histogram"];

function parseScrape(text: string): Scrape {
  const written = parse(text);
  const samples = (written.timeseries ?? []).map((ts) => {
    const labels: Record<string, string> = {};
    for (const l of ts.labels ?? []) labels[l.name ?? ""] = l.value ?? "";
    const { __metric_name: family = "", __suffix: suffix, ...rest } = labels;
    return {
      name: suffix === undefined ? family : `${family}_${suffix}`,
      labels: rest,
      value: Number(ts.samples?.[0]?.value ?? NaN),
    };
  });
  const types = new Map(
    (written.metadata ?? []).map((m) => {
      const raw = m as { metric_family_name?: string; metricFamilyName?: string; type?: number };
      return [raw.metric_family_name ?? raw.metricFamilyName ?? "", TYPES[raw.type ?? 0] ?? "?"];
    }),
  );
  const lines = text.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#")).length;
  return { samples, types, lines };
}

/** The samples named `name` whose labels include `labels`. */
function find(s: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return s.samples.filter((x) =>
    x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)
  );
}

/** The one sample named `name` with `labels`, or 0 when there is none yet. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = find(s, name, labels);
  assert.ok(
    found.length <= 1,
    `${name} ${JSON.stringify(labels)}: one series, not ${found.length}`,
  );
  return found[0]?.value ?? 0;
}

/** Histogram sanity: buckets cumulative, `+Inf` = count, sum ≥ 0, count = `expected`. */
function assertHistogram(s: Scrape, name: string, labels: Record<string, string>, count: number) {
  assert.equal(s.types.get(name), "histogram", `${name} is a histogram`);
  const buckets = find(s, `${name}_bucket`, labels)
    .map((b) => ({ le: b.labels.le === "+Inf" ? Infinity : Number(b.labels.le), n: b.value }))
    .sort((a, b) => a.le - b.le);
  assert.ok(buckets.length > 5, `${name} ${JSON.stringify(labels)} has buckets`);
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.n >= buckets[i - 1]!.n);
  assert.equal(buckets.at(-1)!.le, Infinity);
  assert.equal(buckets.at(-1)!.n, count, `${name} ${JSON.stringify(labels)} count`);
  assert.equal(value(s, `${name}_count`, labels), count);
  assert.ok(value(s, `${name}_sum`, labels) >= 0);
}

async function scrape(url: string, headers: HeadersInit = {}): Promise<Scrape> {
  const res = await fetch(url, { headers });
  assert.equal(res.status, 200, url);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const parsed = parseScrape(text);
  assert.equal(parsed.samples.length, parsed.lines, `${url}: the parser read every sample line`);
  return parsed;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** One span as Deno exports it (OTLP/HTTP JSON: ids in hex). */
interface Span {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  status: number;
}

/** A tiny OTLP/HTTP JSON receiver, keeping every span. */
function startOtlpReceiver() {
  const spans: Span[] = [];
  /** Every export as it came (traces, metrics, logs), for what no export may carry. */
  const raw: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const text = await req.text().catch(() => "");
    raw.push(text);
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = {};
    }
    if (new URL(req.url).pathname === "/v1/traces") {
      for (const rs of body.resourceSpans ?? []) {
        const service = (rs.resource?.attributes ?? []).find((
          a: { key: string },
        ) => a.key === "service.name")?.value?.stringValue ?? "";
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              service,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? "",
              name: s.name,
              kind: s.kind,
              status: s.status?.code ?? 0,
            });
          }
        }
      }
    }
    return Response.json({});
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    spans,
    raw,
    close: () => server.shutdown(),
  };
}

const KIND = { server: 2, client: 3, producer: 4, consumer: 5 };

Deno.test({
  name:
    "observability: /metrics of the gateway and every role after orders and purchases, and one trace per order across every hop",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const brokers = await testBrokers();
    const smtp = await startSmtp();
    const otlp = startOtlpReceiver();
    const prefix = uniqueName("observe");
    const topics = topicEnv(prefix);
    const gatewayPort = freePort();
    const metricsPorts = {
      processing: freePort(),
      notification: freePort(),
      analytics: freePort(),
    };
    const env = (service: string): Record<string, string> => ({
      KAFKA_BROKERS: brokers,
      KAFKA_CLIENT: testClientName(),
      ...topics,
      TOPIC_PARTITIONS: "2",
      INSTANCE_ID: "observe",
      STAGE_DWELL_MS: "0",
      SMTP_URL: smtp.url,
      PURCHASE_CONSOLE: "off",
      ANALYTICS_WINDOW_MS: "1000",
      ANALYTICS_LATENESS_MS: "0",
      ANALYTICS_IDLE_MS: "500",
      LOG_LEVEL: "info",
      OTEL_DENO: "true",
      OTEL_DENO_CONSOLE: "ignore",
      OTEL_SERVICE_NAME: `despacho-${service}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "200",
    });
    // The customers' personal data in this run: no log line and no trace may carry any of it.
    const PERSONAL = /c[0-2]@example\.cl|ana[0-4]@example\.cl|\bSoto\b|1234 5678|Av\. 1/;
    const watched = { counts: { personal: PERSONAL } };
    const worker = (role: string, port: number, ready: RegExp) =>
      spawnDeno(
        role,
        ["task", "-q", "worker", "--role", role],
        {
          ...env(role),
          METRICS_PORT: String(port),
        },
        ready,
        watched,
      );
    const procs: Proc[] = [];
    try {
      procs.push(
        ...await Promise.all([
          spawnDeno(
            "gateway",
            ["task", "-q", "gateway"],
            {
              ...env("gateway"),
              ...ACCESS_ENV,
              PORT: String(gatewayPort),
            },
            /"listening"/,
            watched,
          ),
          worker("processing", metricsPorts.processing, /processing orders/),
          worker("notification", metricsPorts.notification, /notifying customers/),
          spawnDeno(
            "purchase-analytics",
            ["task", "-q", "worker", "--role", "purchase-analytics"],
            { ...env("purchase-analytics"), METRICS_PORT: String(metricsPorts.analytics) },
            /analysing purchases/,
            watched,
          ),
        ]),
      );
      const gateway = `http://127.0.0.1:${gatewayPort}`;

      // Three orders (the first continues a trace of the caller's), two refusals, one mail
      // refused once, a record that is not JSON for the dead-letter topic, and purchase events.
      const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      const traceId = traceIdOf(incoming)!;
      smtp.failNext(1);
      const ids: string[] = [];
      for (const [i, headers] of [{ traceparent: incoming }, {}, {}].entries()) {
        const res = await fetch(`${gateway}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ name: `Pedido ${i}`, price: 1000 + i, email: `c${i}@example.cl` }),
        });
        assert.equal(res.status, 202);
        if (i === 0) assert.equal(traceIdOf(res.headers.get("traceresponse")), traceId);
        ids.push((await res.json()).id);
      }
      for (
        const [body, type, status] of [['{"name":"x"}', "application/json", 422], [
          "x",
          "text/plain",
          415,
        ]] as const
      ) {
        const res = await fetch(`${gateway}/orders`, {
          method: "POST",
          headers: { "content-type": type },
          body,
        });
        assert.equal(res.status, status);
        await res.body?.cancel();
      }
      await produce(brokers, [{ topic: topics.TOPIC_ORDER_REQUESTS, key: "junk", value: "{" }]);

      for (const id of ids) {
        await until(`order ${id} to be notified four times`, async () => {
          const body = await (await fetch(`${gateway}/orders/${id}`)).json();
          return body.notifications?.length === 4 ? true : undefined;
        });
      }
      // Purchases once the orders' mails are out, so that the one refused delivery is an order's
      // (the notification role mails purchases too).
      const purchases = Array.from({ length: 5 }, (_, i) => ({
        v: 1,
        type: "Purchase",
        id: `persona-${i}`,
        nombre: "Ana",
        apellido: "Soto",
        edad: 30,
        email: `ana${i}@example.cl`,
        telefono: "+56 9 1234 5678",
        ubicacion: { direccion: "Av. 1", ciudad: "Santiago", pais: "Chile" },
        productovisto: "Lámpara",
        taps: i === 0 ? null : 10 + i,
        folio: i === 0 ? null : `F-${i}`,
        ts: new Date().toISOString(),
      }));
      const bought = await fetch(`${gateway}/purchases`, {
        method: "POST",
        headers: {
          "content-type": "application/x-ndjson",
          traceparent: incoming,
          ...STAFF_HEADERS,
        },
        body: purchases.map((p) => JSON.stringify(p)).join("\n"),
      });
      assert.equal(bought.status, 202);
      await bought.body?.cancel();

      await t.step("the gateway's /metrics", async () => {
        const s = await scrape(`${gateway}/metrics`, STAFF_HEADERS);
        const posted = { method: "POST", route: "/orders", status: "202" };
        assert.equal(s.types.get("despacho_http_requests_total"), "counter");
        assert.equal(value(s, "despacho_http_requests_total", posted), 3);
        assertHistogram(s, "despacho_http_request_duration_seconds", posted, 3);
        const polled = { method: "GET", route: "/orders/:id", status: "200" };
        assert.ok(value(s, "despacho_http_requests_total", polled) >= 3);
        for (const sample of find(s, "despacho_http_requests_total")) {
          assert.ok(!ids.some((id) => sample.labels.route!.includes(id)), "routes are patterns");
        }
        assert.equal(value(s, "despacho_orders_accepted_total"), 3);
        const refused = (reason: string, status: string) =>
          value(s, "despacho_orders_refused_total", { reason, status });
        assert.equal(refused("invalid_order", "422"), 1);
        assert.equal(refused("unsupported_media_type", "415"), 1);
        const produced = value(s, "despacho_kafka_produce_duration_seconds_count", {
          outcome: "ok",
        });
        assert.ok(produced >= 2 && produced <= 8, `${produced} produce requests`);
        assertHistogram(s, "despacho_kafka_produce_duration_seconds", { outcome: "ok" }, produced);
        assert.ok(value(s, "process_resident_memory_bytes") > 10e6);
        assert.ok(value(s, "process_cpu_seconds_total") > 0);
      });

      const group = (role: string) => `${prefix}-${role}`;
      const roleUrl = (port: number) => `http://127.0.0.1:${port}/metrics`;

      await t.step("the processing role's /metrics", async () => {
        const g = group("processing");
        const s = await until("processing to have handled its own 12 transitions", async () => {
          const s = await scrape(roleUrl(metricsPorts.processing));
          const handled = value(s, "despacho_records_handled_total", {
            group: g,
            topic: topics.TOPIC_ORDER_PROCESSING,
          });
          // Its three inputs (requests, its own transitions, erasures) of two partitions each.
          const lag = find(s, "despacho_consumer_lag", { group: g });
          return handled === 12 && lag.length === 6 && lag.every((l) => l.value <= 1)
            ? s
            : undefined;
        });
        assert.equal(
          value(s, "despacho_records_handled_total", {
            group: g,
            topic: topics.TOPIC_ORDER_REQUESTS,
          }),
          4,
        );
        const committed = value(s, "despacho_transactions_total", {
          group: g,
          outcome: "committed",
        });
        assert.ok(committed >= 1 && committed <= 16, `${committed} transactions`);
        assertHistogram(s, "despacho_transaction_duration_seconds", {
          group: g,
          outcome: "committed",
        }, committed);
        assert.equal(
          value(s, "despacho_dead_letters_total", {
            topic: topics.TOPIC_ORDER_REQUESTS,
            reason: "invalid_json",
          }),
          1,
        );
        // Series born at 0, so that an alert's increase() sees the first dead letter and restart.
        for (const labels of [{ reason: "schema_mismatch" }, { reason: "duplicate" }]) {
          const zero = find(s, "despacho_dead_letters_total", {
            topic: topics.TOPIC_ORDER_PROCESSING,
            ...labels,
          });
          assert.deepEqual(zero.map((x) => x.value), [0], JSON.stringify(labels));
        }
        assert.deepEqual(
          find(s, "despacho_role_restarts_total", { role: "processing" }).map((x) => x.value),
          [0],
        );
        // Three topics of two partitions; an idle partition of a transactional topic shows 1 (the
        // commit marker after its last record takes an offset).
        assert.equal(s.types.get("despacho_consumer_lag"), "gauge");
        for (
          const topic of [
            topics.TOPIC_ORDER_REQUESTS,
            topics.TOPIC_ORDER_PROCESSING,
            topics.TOPIC_ORDER_ERASURES,
          ]
        ) {
          const lag = find(s, "despacho_consumer_lag", { group: g, topic });
          assert.deepEqual(lag.map((l) => l.labels.partition).sort(), ["0", "1"]);
        }
      });

      await t.step("the notification role's /metrics", async () => {
        const g = group("notification");
        // 12 order mails and the 4 purchases' (the fifth event is a visit), their records counted
        // once their transaction committed.
        const purchasesHandled = (s: Scrape) =>
          value(s, "despacho_records_handled_total", {
            group: g,
            topic: topics.TOPIC_PURCHASE_NOTIFICATIONS,
          });
        const s = await until("16 mails sent", async () => {
          const s = await scrape(roleUrl(metricsPorts.notification));
          return value(s, "despacho_mails_total", { outcome: "sent" }) === 16 &&
              purchasesHandled(s) >= 4
            ? s
            : undefined;
        });
        assert.equal(value(s, "despacho_mails_total", { outcome: "retried" }), 1);
        assert.deepEqual(
          find(s, "despacho_mails_total", { outcome: "failed" }).map((x) => x.value),
          [0],
          "the failed series exists at 0 before any failure",
        );
        assert.equal(
          value(s, "despacho_records_handled_total", {
            group: g,
            topic: topics.TOPIC_ORDER_PROCESSING,
          }),
          12,
        );
        assert.equal(
          value(s, "despacho_records_handled_total", {
            group: g,
            topic: topics.TOPIC_MAIL_RETRIES,
          }),
          1,
        );
        assert.equal(purchasesHandled(s), 4);
        const committed = value(s, "despacho_transactions_total", {
          group: g,
          outcome: "committed",
        });
        assert.ok(committed >= 2, `${committed} transactions`);
        assertHistogram(s, "despacho_transaction_duration_seconds", {
          group: g,
          outcome: "committed",
        }, committed);
      });

      await t.step("the purchase-analytics role's /metrics", async () => {
        const g = group("purchase-analytics");
        const s = await until("5 purchase events handled", async () => {
          const s = await scrape(roleUrl(metricsPorts.analytics));
          const handled = value(s, "despacho_records_handled_total", {
            group: g,
            topic: topics.TOPIC_PURCHASES,
          });
          // The stream goes idle after the five events: their windows close (ANALYTICS_IDLE_MS).
          return handled === 5 && find(s, "despacho_consumer_lag", { group: g }).length === 2 &&
              value(s, "despacho_purchase_windows_closed_total") >= 1
            ? s
            : undefined;
        });
        assert.ok(value(s, "despacho_transactions_total", { group: g, outcome: "committed" }) >= 1);
        assert.equal(s.types.get("despacho_purchase_windows_closed_total"), "counter");
      });

      await t.step(
        "one trace per order: its records, GET /orders/{id} and the spans of every hop",
        async () => {
          const id = ids[0]!;
          const order = await (await fetch(`${gateway}/orders/${id}`)).json();
          assert.equal(order.traceId, traceId);
          const mine = (records: TopicRecord[]) => records.filter((r) => r.key === id);
          const [requests, transitions, notified] = await Promise.all([
            readTopic(brokers, topics.TOPIC_ORDER_REQUESTS, 4),
            readTopic(brokers, topics.TOPIC_ORDER_PROCESSING, 12),
            readTopic(brokers, topics.TOPIC_ORDER_NOTIFICATIONS, 12),
          ]);
          const records = [...mine(requests), ...mine(transitions), ...mine(notified)];
          assert.equal(records.length, 9);
          for (const r of records) assert.equal(traceIdOf(r.headers.traceparent), traceId);

          const spans = await until("the spans of every hop", () => {
            const found = otlp.spans.filter((s) => s.traceId === traceId);
            const smtpSends = found.filter((s) => s.name === "smtp send");
            return Promise.resolve(
              smtpSends.length >= 4 && found.some((s) => s.service === "despacho-processing")
                ? found
                : undefined,
            );
          });
          const byId = new Map(spans.map((s) => [s.spanId, s]));
          const of = (service: string, kind: number) =>
            spans.filter((s) => s.service === `despacho-${service}` && s.kind === kind);
          // gateway: the request (child of the caller's span), the write under it
          const [server] = of("gateway", KIND.server).filter((s) => s.name === "POST /orders");
          assert.ok(server !== undefined, "the gateway's server span");
          assert.equal(server.parentSpanId, "00f067aa0ba902b7");
          const send = of("gateway", KIND.producer).find((s) => s.parentSpanId === server.spanId);
          assert.ok(send !== undefined, "the gateway's producer span under the request");
          const request = mine(requests)[0]!;
          assert.equal(request.headers.traceparent!.slice(36, 52), send.spanId);
          // processing: one decision (dwell 0: four transitions at once), under the write
          const processing = of("processing", KIND.consumer);
          assert.equal(processing.length, 1);
          assert.equal(processing[0]!.parentSpanId, send.spanId);
          for (const r of mine(transitions)) {
            assert.equal(r.headers.traceparent!.slice(36, 52), processing[0]!.spanId);
          }
          // notification: a hop per mail attempt under the transition's, the SMTP send under it
          const notifying = of("notification", KIND.consumer);
          const sends = of("notification", KIND.client);
          assert.ok(notifying.length >= 4 && sends.length === notifying.length);
          for (const n of notifying) {
            const parent = byId.get(n.parentSpanId);
            assert.ok(parent !== undefined, `${n.name}'s parent is in the trace`);
            assert.ok(
              parent.service === "despacho-processing" ||
                parent.service === "despacho-notification",
            );
            assert.ok(sends.some((s) => s.parentSpanId === n.spanId), "an SMTP send per hop");
          }
          // Every span of the trace hangs from another of it, or from the caller's.
          for (const s of spans) {
            assert.ok(s.parentSpanId === "00f067aa0ba902b7" || byId.has(s.parentSpanId), s.name);
          }
        },
      );
      await t.step(
        "no process's log line and no exported trace, metric or log names a customer or holds their address",
        () => {
          const lines = Object.fromEntries(procs.map((p) => [p.name, p.counted("personal")]));
          assert.deepEqual(lines, {
            gateway: 0,
            processing: 0,
            notification: 0,
            "purchase-analytics": 0,
          });
          const exported = otlp.raw.filter((body) => PERSONAL.test(body)).map((b) =>
            b.match(PERSONAL)?.[0]
          );
          assert.deepEqual(exported, [], "OTLP exports with personal data");
          assert.ok(otlp.raw.length > 0, "something was exported");
        },
      );
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
      await otlp.close();
      await smtp.close();
    }
  },
});
