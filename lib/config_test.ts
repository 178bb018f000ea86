import assert from "node:assert/strict";
import { kafkaSecurity, loadConfig, smtpSettings } from "./config.ts";
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

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const PASSWORD = "hunter2-Zq9";

Deno.test("loadConfig() reads a secret or a certificate from its _FILE variable", () => {
  const files: Record<string, string> = {
    "/run/secrets/smtp": `${PASSWORD}\n`,
    "/etc/ca.pem": PEM,
  };
  const read = (path: string) => {
    if (!(path in files)) throw Object.assign(new Error("not found"), { code: "ENOENT" });
    return files[path]!;
  };
  const config = loadConfig({
    SMTP_URL: "smtp://mail.example.cl:587",
    SMTP_USER: "shop",
    SMTP_PASSWORD_FILE: "/run/secrets/smtp",
    SMTP_CA_FILE: "/etc/ca.pem",
  }, read);
  assert.equal(config.SMTP_PASSWORD, PASSWORD, "one trailing line break dropped");
  assert.deepEqual(smtpSettings(config), {
    host: "mail.example.cl",
    port: 587,
    tls: "starttls",
    login: { user: "shop", password: PASSWORD },
    ca: PEM.trimEnd(),
  });
});

Deno.test("smtpSettings() protects a login by default and reads it from the URL or the variables", async (t) => {
  const cases: [Record<string, string>, ReturnType<typeof smtpSettings>][] = [
    [{}, undefined],
    [{ SMTP_URL: "smtp://mailpit:1025" }, { host: "mailpit", port: 1025, tls: "none" }],
    [{ SMTP_URL: "smtps://mail.example.cl" }, {
      host: "mail.example.cl",
      port: 465,
      tls: "implicit",
    }],
    [{ SMTP_URL: "smtp://shop:p%40ss@mail:587" }, {
      host: "mail",
      port: 587,
      tls: "starttls",
      login: { user: "shop", password: "p@ss" },
    }],
    [{ SMTP_URL: "smtp://mail:465", SMTP_TLS: "implicit", SMTP_USER: "u", SMTP_PASSWORD: "p" }, {
      host: "mail",
      port: 465,
      tls: "implicit",
      login: { user: "u", password: "p" },
    }],
    [{ SMTP_URL: "smtp://mail", SMTP_TLS: "starttls" }, {
      host: "mail",
      port: 25,
      tls: "starttls",
    }],
  ];
  for (const [env, want] of cases) {
    await t.step(JSON.stringify(env), () => assert.deepEqual(smtpSettings(loadConfig(env)), want));
  }
});

Deno.test("loadConfig() refuses contradictory or unsafe SMTP settings, naming the variable", async (t) => {
  const cases: [Record<string, string>, string][] = [
    [{ SMTP_USER: "shop" }, 'SMTP_USER needs SMTP_URL (the server): current value is "shop"'],
    [
      { SMTP_URL: "smtp://mail", SMTP_TLS: "none", SMTP_USER: "u", SMTP_PASSWORD: "p" },
      'SMTP_TLS must be starttls or implicit with a login: none would send it in clear: current value is "none"',
    ],
    [
      { SMTP_URL: "smtps://mail", SMTP_TLS: "starttls" },
      'SMTP_TLS must be implicit (or unset) with an smtps: SMTP_URL: current value is "starttls"',
    ],
    [
      { SMTP_URL: "smtp://mail", SMTP_USER: "u" },
      'SMTP_USER needs SMTP_PASSWORD (or SMTP_PASSWORD_FILE) too: current value is "u"',
    ],
    [
      { SMTP_URL: "smtp://a:b@mail", SMTP_USER: "u" },
      'SMTP_USER must be unset when SMTP_URL carries a login (give it once): current value is "u"',
    ],
    [{ SMTP_URL: "smtp://mail", SMTP_TLS: "maybe" }, "SMTP_TLS "],
    [
      { SMTP_URL: "smtp://mail", SMTP_CA: "not a certificate" },
      "SMTP_CA expected PEM certificates",
    ],
    [
      { SMTP_PASSWORD: "x", SMTP_PASSWORD_FILE: "/run/secrets/smtp" },
      'SMTP_PASSWORD_FILE must be unset when SMTP_PASSWORD is set (give it once): current value is "/run/secrets/smtp"',
    ],
    [
      { SMTP_URL: "smtp://mail", SMTP_CA_FILE: "/nowhere/ca.pem" },
      'SMTP_CA_FILE cannot be read (ENOENT): current value is "/nowhere/ca.pem"',
    ],
  ];
  for (const [env, want] of cases) {
    await t.step(want, () => {
      assert.throws(() => loadConfig(env), (error: unknown) => {
        assert.ok(error instanceof DespachoError);
        assert.equal(error.code, "INVALID_CONFIG");
        assert.ok(error.message.includes(want), error.message);
        return true;
      });
    });
  }
});

Deno.test("loadConfig() never shows a password in its error, from a variable, a file or the URL", async (t) => {
  const read = () => `${PASSWORD}\n`;
  const cases: Record<string, string>[] = [
    { SMTP_PASSWORD: PASSWORD },
    { SMTP_URL: "smtp://mail", SMTP_PASSWORD: PASSWORD },
    { SMTP_URL: "smtp://mail", SMTP_TLS: "none", SMTP_USER: "u", SMTP_PASSWORD: PASSWORD },
    { SMTP_URL: "smtp://mail", SMTP_PASSWORD_FILE: "/run/secrets/smtp" },
    { SMTP_URL: `smtp://u:${PASSWORD}@mail`, SMTP_TLS: "none" },
    { SMTP_URL: `smtp://u:${PASSWORD}@mail`, SMTP_PASSWORD: PASSWORD },
    { SMTP_URL: `http://u:${PASSWORD}@mail` },
    { SMTP_URL: `smtp://u:${PASSWORD}@mail:99999` },
    // Unencoded `/`, `?`, `#` in the password: the URL does not parse, and must still be hidden.
    { SMTP_URL: `smtp://u:pa/ss-${PASSWORD}@mail:587` },
    { SMTP_URL: `smtp://u:pa?ss-${PASSWORD}@mail:587` },
    { SMTP_URL: `smtp://u:pa#ss-${PASSWORD}@mail:587` },
  ];
  for (const env of cases) {
    await t.step(JSON.stringify(Object.keys(env)), () => {
      assert.throws(() => loadConfig(env, read), (error: unknown) => {
        assert.ok(error instanceof DespachoError, String(error));
        assert.ok(!error.message.includes(PASSWORD), error.message);
        assert.ok(!error.message.includes("hunter2"), error.message);
        return true;
      });
    });
  }
});

Deno.test("loadConfig() reads the client limits, trusted proxies and the TLS pair", async (t) => {
  const defaults = loadConfig({});
  assert.deepEqual(
    [defaults.ORDER_RATE_PER_S, defaults.ORDER_BURST, defaults.STREAMS_PER_CLIENT],
    [5, 20, 10],
  );
  assert.equal(defaults.TRUSTED_PROXY, undefined);
  const key = `-----BEGIN PRIVATE KEY-----\n${PASSWORD}\n-----END PRIVATE KEY-----\n`;
  const files: Record<string, string> = { "/tls/cert.pem": PEM, "/tls/key.pem": key };
  const read = (path: string) => files[path]!;
  const config = loadConfig({
    ORDER_RATE_PER_S: "0.5",
    STREAMS_PER_CLIENT: "0",
    TRUSTED_PROXY: "10.0.0.0/8, ::1",
    TLS_CERT_FILE: "/tls/cert.pem",
    TLS_KEY_FILE: "/tls/key.pem",
  }, read);
  assert.equal(config.ORDER_RATE_PER_S, 0.5);
  assert.equal(config.STREAMS_PER_CLIENT, 0);
  assert.deepEqual(config.TRUSTED_PROXY, ["10.0.0.0/8", "::1"]);
  assert.equal(config.TLS_CERT, PEM.trimEnd());
  assert.equal(config.TLS_KEY, key.trimEnd());
  const cases: [Record<string, string>, string][] = [
    [{ ORDER_RATE_PER_S: "-1" }, "ORDER_RATE_PER_S "],
    [{ TRUSTED_PROXY: "proxy.local" }, "TRUSTED_PROXY expected IP addresses"],
    [{ TLS_CERT_FILE: "/tls/cert.pem" }, "TLS_CERT_FILE needs TLS_KEY (or TLS_KEY_FILE) too"],
    [{ TLS_KEY_FILE: "/tls/key.pem" }, "TLS_KEY_FILE needs TLS_CERT (or TLS_CERT_FILE) too"],
    [
      { TLS_CERT: "nope", TLS_KEY: key },
      'TLS_CERT expected a PEM CERTIFICATE: current value is "nope"',
    ],
    [
      { TLS_CERT: PEM, TLS_KEY: "nope" },
      'TLS_KEY expected a PEM PRIVATE KEY: current value is "(hidden)"',
    ],
  ];
  for (const [env, want] of cases) {
    await t.step(want, () => {
      assert.throws(() => loadConfig(env, read), (error: unknown) => {
        assert.ok(error instanceof DespachoError);
        assert.ok(error.message.includes(want), error.message);
        assert.ok(!error.message.includes(PASSWORD), "the key never shows");
        return true;
      });
    });
  }
});

const PEM_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

Deno.test("loadConfig() reads the Kafka security variables, secrets and certificates from files too", () => {
  const files: Record<string, string> = {
    "/run/secrets/kafka": `${PASSWORD}\n`,
    "/etc/kafka/ca.pem": PEM_CA,
    "/etc/kafka/client.pem": PEM_CA,
    "/etc/kafka/client.key": PEM_KEY,
  };
  const config = loadConfig({
    KAFKA_SECURITY_PROTOCOL: "SASL_SSL",
    KAFKA_SASL_USERNAME: "gateway",
    KAFKA_SASL_PASSWORD_FILE: "/run/secrets/kafka",
    KAFKA_TLS_CA_FILE: "/etc/kafka/ca.pem",
    KAFKA_TLS_CERT_FILE: "/etc/kafka/client.pem",
    KAFKA_TLS_KEY_FILE: "/etc/kafka/client.key",
  }, (path) => files[path]!);
  assert.deepEqual(kafkaSecurity(config), {
    tls: { ca: PEM_CA.trimEnd(), cert: PEM_CA.trimEnd(), key: PEM_KEY.trimEnd() },
    sasl: { mechanism: "SCRAM-SHA-512", username: "gateway", password: PASSWORD },
  });
  assert.deepEqual(kafkaSecurity(loadConfig({})), {});
  assert.deepEqual(kafkaSecurity(loadConfig({ KAFKA_SECURITY_PROTOCOL: "SSL" })), { tls: {} });
});

Deno.test("loadConfig() refuses inconsistent Kafka security variables with one sentence each", async (t) => {
  const cases: [Record<string, string>, string][] = [
    [
      { KAFKA_SASL_USERNAME: "gateway" },
      'KAFKA_SASL_USERNAME needs KAFKA_SECURITY_PROTOCOL SASL_SSL or SASL_PLAINTEXT, not PLAINTEXT: current value is "gateway"',
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: "SASL_SSL", KAFKA_SASL_USERNAME: "gateway" },
      "KAFKA_SASL_PASSWORD is needed with KAFKA_SECURITY_PROTOCOL SASL_SSL (or KAFKA_SASL_PASSWORD_FILE)",
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: "SASL_SSL", KAFKA_SASL_PASSWORD: PASSWORD },
      "KAFKA_SASL_USERNAME is needed with KAFKA_SECURITY_PROTOCOL SASL_SSL",
    ],
    [
      {
        KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT",
        KAFKA_SASL_MECHANISM: "PLAIN",
        KAFKA_SASL_USERNAME: "u",
        KAFKA_SASL_PASSWORD: PASSWORD,
      },
      'KAFKA_SASL_MECHANISM must be a SCRAM mechanism with SASL_PLAINTEXT: PLAIN would send the password in clear: current value is "PLAIN"',
    ],
    [
      { KAFKA_TLS_CA: PEM_CA },
      "KAFKA_TLS_CA needs KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL, not PLAINTEXT",
    ],
    [
      { KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_TLS_CERT: PEM_CA },
      "KAFKA_TLS_CERT needs KAFKA_TLS_KEY (or KAFKA_TLS_KEY_FILE) too",
    ],
    [{ KAFKA_SECURITY_PROTOCOL: "SASL" }, "KAFKA_SECURITY_PROTOCOL "],
    [
      { KAFKA_SECURITY_PROTOCOL: "SSL", KAFKA_TLS_CA: "nope" },
      "KAFKA_TLS_CA expected a PEM CERTIFICATE",
    ],
  ];
  for (const [env, want] of cases) {
    await t.step(want, () => {
      assert.throws(() => loadConfig(env), (error: unknown) => {
        assert.ok(error instanceof DespachoError);
        assert.ok(error.message.includes(want), error.message);
        assert.ok(!error.message.includes(PASSWORD), error.message);
        return true;
      });
    });
  }
});

Deno.test("loadConfig() never shows a Kafka password or private key in its error", async (t) => {
  const cases: Record<string, string>[] = [
    { KAFKA_SASL_PASSWORD: PASSWORD },
    { KAFKA_SECURITY_PROTOCOL: "SASL_PLAINTEXT", KAFKA_SASL_PASSWORD: PASSWORD },
    { KAFKA_TLS_KEY: `-----BEGIN PRIVATE KEY-----\n${PASSWORD}\n-----END PRIVATE KEY-----` },
    { KAFKA_TLS_KEY: PASSWORD },
  ];
  for (const env of cases) {
    await t.step(JSON.stringify(Object.keys(env)), () => {
      assert.throws(() => loadConfig(env), (error: unknown) => {
        assert.ok(error instanceof DespachoError, String(error));
        assert.ok(!error.message.includes(PASSWORD), error.message);
        return true;
      });
    });
  }
});
