import assert from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { DespachoError } from "./errors.ts";

Deno.test("loadConfig() fills defaults from an empty environment", () => {
  const config = loadConfig({});
  assert.deepEqual(config.KAFKA_BROKERS, ["127.0.0.1:9092"]);
  assert.equal(config.PORT, 8080);
  assert.equal(config.TOPIC_ORDER_REQUESTS, "order_requests");
  assert.equal(config.TOPIC_ORDER_PROCESSING, "order_processing");
  assert.equal(config.TOPIC_ORDER_NOTIFICATIONS, "order_notifications");
  assert.deepEqual(config.STAGE_DWELL_MS, [2000, 2000, 2000]);
  assert.equal(config.SMTP_URL, undefined);
  assert.equal(config.MAX_PENDING_PUBLISHES, 20_000);
  assert.equal(config.MAX_BATCH_LINES, 10_000);
  assert.equal(config.DRAIN_TIMEOUT_MS, 10_000);
  assert.equal(config.HTTP_SERVER, "strict");
  assert.equal(config.MAX_REQUEST_HEADERS, 100);
  assert.equal(config.HEADERS_TIMEOUT_MS, 10_000);
  assert.equal(config.REQUEST_TIMEOUT_MS, 30_000);
});

Deno.test("loadConfig() reads values and treats empty strings as unset", () => {
  const config = loadConfig({
    KAFKA_BROKERS: "a:1, b:2",
    PORT: "9000",
    STAGE_DWELL_MS: "0,10,20",
    SMTP_URL: "smtp://user:pw@localhost:2525",
    INSTANCE_ID: "",
    UNRELATED: "x",
  });
  assert.deepEqual(config.KAFKA_BROKERS, ["a:1", "b:2"]);
  assert.equal(config.PORT, 9000);
  assert.deepEqual(config.STAGE_DWELL_MS, [0, 10, 20]);
  assert.equal(config.SMTP_URL, "smtp://user:pw@localhost:2525");
  assert.equal(config.INSTANCE_ID, undefined);
  assert.deepEqual(loadConfig({ STAGE_DWELL_MS: "0" }).STAGE_DWELL_MS, [0, 0, 0]);
});

Deno.test("loadConfig() refuses a bad value with one sentence naming the variable and value", async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: "http" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ KAFKA_BROKERS: "localhost" }, "KAFKA_BROKERS"],
    [{ KAFKA_BROKERS: "," }, "KAFKA_BROKERS"],
    [{ STAGE_DWELL_MS: "1,2" }, "STAGE_DWELL_MS"],
    [{ STAGE_DWELL_MS: "-5" }, "STAGE_DWELL_MS"],
    [{ SMTP_URL: "http://mail" }, "SMTP_URL"],
    [{ TOPIC_PARTITIONS: "0" }, "TOPIC_PARTITIONS"],
    [{ TOPIC_ORDER_REQUESTS: "bad topic" }, "TOPIC_ORDER_REQUESTS"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ MAX_PENDING_PUBLISHES: "0" }, "MAX_PENDING_PUBLISHES"],
    [{ MAX_BATCH_LINES: "0" }, "MAX_BATCH_LINES"],
    [{ MAX_BATCH_LINES: "30000" }, "MAX_BATCH_LINES"],
    [{ DRAIN_TIMEOUT_MS: "-1" }, "DRAIN_TIMEOUT_MS"],
    [{ HTTP_SERVER: "hyper" }, "HTTP_SERVER"],
    [{ MAX_REQUEST_HEADERS: "0" }, "MAX_REQUEST_HEADERS"],
    [{ HEADERS_TIMEOUT_MS: "40000" }, "HEADERS_TIMEOUT_MS"],
    [{ KEEP_ALIVE_TIMEOUT_MS: "10" }, "KEEP_ALIVE_TIMEOUT_MS"],
  ];
  for (const [env, variable] of cases) {
    await t.step(`${variable}=${Object.values(env)[0]}`, () => {
      assert.throws(() => loadConfig(env), (error: unknown) => {
        assert.ok(error instanceof DespachoError);
        assert.equal(error.code, "INVALID_CONFIG");
        assert.match(error.message, /^Cannot start: invalid configuration: /);
        assert.ok(error.message.includes(`${variable} `), error.message);
        assert.ok(
          error.message.includes(`current value is "${Object.values(env)[0]}"`),
          error.message,
        );
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    });
  }
});
