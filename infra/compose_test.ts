/**
 * `compose.yaml` checked without Docker (none runs here): parsed with npm `yaml`, its Despacho
 * services' environments must be configuration Despacho reads (or standard `OTEL_*` variables) and
 * load, and what Prometheus scrapes and where the OpenTelemetry Collector sends must be services of
 * the file, at the ports the file gives them.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { ConfigSchema, FROM_FILE, loadConfig } from "../lib/config.ts";

const ROOT = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

type Json = Record<string, unknown>;
interface Service {
  image?: string;
  build?: { target?: string };
  environment?: Record<string, string | number>;
  ports?: string[];
  depends_on?: string[] | Record<string, unknown>;
  volumes?:
    (string | { type: string; source: string; target: string; volume?: { subpath?: string } })[];
  command?: string[];
}

const compose = parse(read("compose.yaml"), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
const TEST_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
const DESPACHO = ["gateway", "processing", "notification", "purchase-analytics"];
const WORKERS = DESPACHO.slice(1);

/** The standard OpenTelemetry variables Deno's built-in integration reads. */
const OTEL_VARIABLES = new Set([
  "OTEL_DENO",
  "OTEL_DENO_CONSOLE",
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_TRACES_SAMPLER",
  "OTEL_TRACES_SAMPLER_ARG",
]);

function env(name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [k, String(v)]),
  );
}

/** `host:port` or `http://host:port/…` → [host, port]. */
function hostPort(target: string): [string, number] {
  const url = new URL(target.includes("://") ? target : `tcp://${target}`);
  return [url.hostname, Number(url.port)];
}

Deno.test("compose.yaml: every Despacho service's environment is configuration Despacho reads, and loads", async (t) => {
  const known = new Set([
    ...Object.keys(ConfigSchema.shape),
    ...FROM_FILE.map((k) => `${k}_FILE`),
  ]);
  for (const name of DESPACHO) {
    await t.step(name, () => {
      const vars = env(name);
      const unknown = Object.keys(vars).filter((k) => !known.has(k) && !OTEL_VARIABLES.has(k));
      assert.deepEqual(unknown, [], `${name} sets variables nothing reads`);
      // Secret files are read in the container: here each must lie in a volume the service mounts.
      const mounts = [
        ...(services[name]?.volumes ?? []).map((v) =>
          typeof v === "string" ? v.split(":")[1]! : v.target
        ),
        // Docker secrets land in /run/secrets/<name>.
        ...((services[name] as { secrets?: string[] } | undefined)?.secrets ?? []).map((n) =>
          `/run/secrets/${n}`
        ),
      ];
      const config = loadConfig(vars, (path) => {
        assert.ok(
          mounts.some((m) => path === m || path.startsWith(`${m}/`)),
          `${name}: ${path} is mounted`,
        );
        return path.endsWith(".pem") ? TEST_PEM : "compose-test-secret-0123456789abcdefghij";
      }); // throws on a bad value
      // Kafka between the services: TLS and a login of the service's own.
      assert.equal(config.KAFKA_SECURITY_PROTOCOL, "SASL_SSL", `${name} talks SASL_SSL`);
      assert.equal(config.KAFKA_SASL_USERNAME, name, `${name} logs in as itself`);
      assert.ok(
        services[name]?.volumes?.some((v) =>
          typeof v !== "string" && v.source === "kafka-secrets" && v.volume?.subpath === name
        ),
        `${name} mounts its own secrets only`,
      );
      assert.equal(vars.OTEL_SERVICE_NAME, `despacho-${name}`);
      assert.equal(vars.OTEL_DENO, "true");
      if (WORKERS.includes(name)) {
        assert.ok(config.METRICS_PORT !== undefined, `${name} serves metrics`);
        assert.equal(config.METRICS_HOST, "0.0.0.0", `${name}'s metrics reachable from Prometheus`);
        assert.deepEqual(services[name]?.command, ["--role", name]);
      } else {
        assert.equal(config.HOST, "0.0.0.0");
        assert.ok(services[name]?.ports?.includes(`${config.PORT}:${config.PORT}`));
      }
    });
  }
});

Deno.test("compose.yaml: Prometheus scrapes the gateway and every worker where they serve metrics", () => {
  const prometheus = services.prometheus!;
  assert.ok(
    prometheus.volumes?.includes("./infra/prometheus.yml:/etc/prometheus/prometheus.yml:ro"),
  );
  assert.ok(prometheus.command?.includes("--config.file=/etc/prometheus/prometheus.yml"));
  const config = parse(read("infra/prometheus.yml")) as {
    scrape_configs: {
      job_name: string;
      metrics_path?: string;
      static_configs: { targets: string[] }[];
    }[];
  };
  const targets = config.scrape_configs.flatMap((j) =>
    j.static_configs.flatMap((s) => s.targets.map((t) => ({ job: j.job_name, target: t })))
  );
  assert.deepEqual(targets.map((t) => t.job).sort(), [...DESPACHO].sort());
  for (const { job, target } of targets) {
    const [host, port] = hostPort(target);
    assert.equal(host, job, `${job} scrapes its own service`);
    const c = loadConfig(
      env(host),
      (path) => path.endsWith(".pem") ? TEST_PEM : "compose-test-secret-0123456789abcdefghij",
    );
    assert.equal(port, host === "gateway" ? c.PORT : c.METRICS_PORT, `${job}'s port`);
  }
  assert.ok(config.scrape_configs.every((j) => (j.metrics_path ?? "/metrics") === "/metrics"));
  // The gateway's /metrics is for staff: Prometheus presents the staff token compose gives it.
  const gateway = (config.scrape_configs as { job_name: string; authorization?: Json }[])
    .find((j) => j.job_name === "gateway")!;
  assert.deepEqual(gateway.authorization, {
    type: "Bearer",
    credentials_file: "/run/secrets/staff_token",
  });
  assert.ok((prometheus as { secrets?: string[] }).secrets?.includes("staff_token"));
  assert.equal(env("gateway").STAFF_TOKEN_FILE, "/run/secrets/staff_token");
});

Deno.test("compose.yaml: Prometheus loads the alert rules from where compose mounts them", () => {
  const config = parse(read("infra/prometheus.yml")) as { rule_files?: string[] };
  const mounts = new Map(
    (services.prometheus!.volumes ?? []).filter((v) => typeof v === "string").map((v) => {
      const [from, to] = v.split(":");
      return [to!, from!];
    }),
  );
  assert.deepEqual(config.rule_files, ["alerts.yml"]);
  for (const file of config.rule_files ?? []) {
    // A relative rule file is read from the configuration file's directory.
    const inContainer = file.startsWith("/") ? file : `/etc/prometheus/${file}`;
    assert.equal(mounts.get(inContainer), "./infra/alerts.yml", `${inContainer} is mounted`);
    Deno.statSync(new URL(`infra/${file}`, ROOT)); // and beside infra/prometheus.yml here too
  }
});

Deno.test("compose.yaml: OTLP goes to the collector, and the collector to Jaeger and Prometheus", () => {
  const [host, port] = hostPort(env("gateway").OTEL_EXPORTER_OTLP_ENDPOINT!);
  const collector = services[host];
  assert.ok(collector !== undefined, `${host} is a service`);
  assert.ok(
    collector.volumes?.some((v) =>
      typeof v === "string" && v.startsWith("./infra/otel-collector.yaml:")
    ),
  );
  const config = parse(read("infra/otel-collector.yaml")) as {
    receivers: { otlp: { protocols: { http: { endpoint: string } } } };
    exporters: Record<string, { endpoint: string }>;
    processors: Json;
    service: {
      pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
    };
  };
  assert.equal(hostPort(config.receivers.otlp.protocols.http.endpoint)[1], port);
  assert.equal(env("gateway").OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf");
  for (const [signal, p] of Object.entries(config.service.pipelines)) {
    for (const r of p.receivers) assert.ok(r in config.receivers, `${signal}: receiver ${r}`);
    for (const x of p.processors) assert.ok(x in config.processors, `${signal}: processor ${x}`);
    for (const e of p.exporters) assert.ok(e in config.exporters, `${signal}: exporter ${e}`);
  }
  assert.ok(config.service.pipelines.traces, "traces have a pipeline");
  for (const [name, exporter] of Object.entries(config.exporters)) {
    const [target] = hostPort(exporter.endpoint);
    assert.ok(target in services, `${name} sends to ${target}, a service`);
  }
  assert.equal(hostPort(config.exporters["otlp/jaeger"]!.endpoint)[0], "jaeger");
  assert.equal(hostPort(config.exporters["otlphttp/prometheus"]!.endpoint)[0], "prometheus");
  assert.ok(services.prometheus!.command?.includes("--web.enable-otlp-receiver"));
  assert.ok(services.jaeger!.ports?.includes("16686:16686"), "Jaeger's UI is published");
});

Deno.test("compose.yaml: images are pinned, dependencies exist, mounted files exist", () => {
  for (const [name, s] of Object.entries(services)) {
    if (s.image !== undefined) assert.match(s.image, /:[\w.-]+$/, `${name}: a pinned tag`);
    assert.ok(!s.image?.endsWith(":latest"), `${name}: not latest`);
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const d of deps) assert.ok(d in services, `${name} depends on ${d}, a service`);
    for (const v of s.volumes ?? []) {
      if (typeof v === "string" && v.startsWith("./")) {
        Deno.statSync(new URL(v.split(":")[0]!, ROOT));
      }
    }
  }
});

Deno.test("compose.yaml: the broker listens SASL_SSL only, and the setup runs as admin before the services", () => {
  const kafka = services.kafka!;
  const script = read("infra/kafka/compose_secure.sh");
  assert.ok(
    kafka.volumes?.includes("./infra/kafka/compose_secure.sh:/despacho/compose_secure.sh:ro"),
  );
  assert.match(script, /^listeners=SASL_SSL:\/\/:9092,CONTROLLER:\/\/:9093$/m);
  assert.match(script, /^advertised\.listeners=SASL_SSL:\/\/kafka:9092$/m);
  assert.match(
    script,
    /^authorizer\.class\.name=org\.apache\.kafka\.metadata\.authorizer\.StandardAuthorizer$/m,
  );
  assert.doesNotMatch(script, /PLAINTEXT:\/\//);
  const setup = services["kafka-setup"]!;
  assert.equal(setup.environment?.KAFKA_SASL_USERNAME, "admin");
  for (const name of DESPACHO) {
    const deps = services[name]!.depends_on as Record<string, { condition: string }>;
    assert.equal(deps["kafka-setup"]?.condition, "service_completed_successfully", name);
  }
});
