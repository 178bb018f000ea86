/**
 * The alert rules shipped with Prometheus (`infra/alerts.yml`) checked against the code: each
 * expression is PromQL that parses (Prometheus's own grammar, npm `@prometheus-io/lezer-promql`),
 * names only metrics Despacho exports (`lib/metrics.ts`'s registry, or Prometheus's `up`) with
 * labels and label values they carry, and says who to wake and why. The promtool cases
 * (`infra/alerts_test.yml`) must use the same metric shapes and make every alert fire.
 *
 * With Prometheus's `promtool` on PATH (Debian: `apt-get install prometheus`), `promtool check
 * rules` and `promtool test rules` run too; without it those two tests are ignored, saying why.
 */
import assert from "node:assert/strict";
import { parser } from "@prometheus-io/lezer-promql";
import { parse } from "yaml";
import { DEAD_LETTER_REASONS, MAIL_OUTCOMES, registry } from "../lib/metrics.ts";

const ROOT = new URL("../", import.meta.url);
const RULES = "infra/alerts.yml";
const CASES = "infra/alerts_test.yml";
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Cases {
  rule_files: string[];
  tests: {
    name: string;
    input_series: { series: string; values: string }[];
    alert_rule_test?: {
      eval_time: string;
      alertname: string;
      exp_alerts?: { exp_labels?: Record<string, string> }[];
    }[];
  }[];
}

const rules = (parse(read(RULES)) as { groups: { name: string; rules: Rule[] }[] }).groups
  .flatMap((g) => g.rules);
const cases = parse(read(CASES)) as Cases;

/** Labels a scrape adds to every series. */
const TARGET_LABELS = ["job", "instance"];

/** Every series name the code exports, with its labels (a histogram's three series each). */
function exportedSeries(): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>([["up", new Set(TARGET_LABELS)]]);
  for (const metric of registry.getMetricsAsArray()) {
    const own = (metric as unknown as { labelNames?: string[] }).labelNames ?? [];
    const labels = new Set([...own, ...TARGET_LABELS]);
    if (String(metric.type) === "histogram") {
      series.set(`${metric.name}_bucket`, new Set([...labels, "le"]));
      series.set(`${metric.name}_sum`, labels);
      series.set(`${metric.name}_count`, labels);
    } else series.set(metric.name, labels);
  }
  return series;
}
const EXPORTED = exportedSeries();

/** Labels whose values the code fixes: a matcher on another value would never match. */
const VALUES: Record<string, Record<string, readonly string[]>> = {
  despacho_mails_total: { outcome: MAIL_OUTCOMES },
  despacho_dead_letters_total: { reason: DEAD_LETTER_REASONS },
};

/**
 * What is wrong with a PromQL expression, measured against the code: a syntax error, a metric
 * nobody exports, a label the metric does not carry, a value its label never takes.
 */
function problemsOf(expr: string): string[] {
  const problems: string[] = [];
  const text = (n: { from: number; to: number }) => expr.slice(n.from, n.to);
  const used = new Set<string>();
  const grouping: string[] = [];
  const cursor = parser.parse(expr).cursor();
  do {
    const node = cursor.node;
    if (node.type.isError && !problems.some((p) => p.startsWith("syntax error"))) {
      problems.push(
        `syntax error at character ${node.from}: "${expr.slice(node.from, node.from + 20)}"`,
      );
    }
    if (node.name === "GroupingLabels") {
      for (let c = node.firstChild; c !== null; c = c.nextSibling) {
        if (c.name === "LabelName") grouping.push(text(c));
      }
    }
    if (node.name !== "VectorSelector") continue;
    const id = node.getChild("Identifier");
    const name = id === null ? undefined : text(id);
    const labels = name === undefined ? undefined : EXPORTED.get(name);
    if (name === undefined) {
      problems.push(`a selector without a metric name: ${text(node)}`);
      continue;
    }
    if (labels === undefined) {
      problems.push(`${name} is not a metric Despacho exports`);
      continue;
    }
    used.add(name);
    for (const m of node.getChild("LabelMatchers")?.getChildren("UnquotedLabelMatcher") ?? []) {
      const label = text(m.getChild("LabelName")!);
      const op = text(m.getChild("MatchOp")!);
      const value = JSON.parse(text(m.getChild("StringLiteral")!)) as string;
      if (!labels.has(label)) problems.push(`${name} has no label ${label}`);
      const allowed = VALUES[name]?.[label];
      if (allowed !== undefined && op === "=" && !allowed.includes(value)) {
        problems.push(`${name}{${label}} is never "${value}" (only ${allowed.join(", ")})`);
      }
    }
  } while (cursor.next());
  const carried = new Set([...used].flatMap((n) => [...EXPORTED.get(n)!]));
  for (const label of grouping) {
    if (!carried.has(label)) problems.push(`no metric of the expression has the label ${label}`);
  }
  return problems;
}

Deno.test("problemsOf() finds what would make a rule wrong", async (t) => {
  const cases: [string, string, string[]][] = [
    ["a sound expression", "sum by (group) (despacho_consumer_lag) > 0 and up == 1", []],
    ["a metric nobody exports", "sum(despacho_consumer_lags) > 0", [
      "despacho_consumer_lags is not a metric Despacho exports",
    ]],
    ["a syntax error", "sum(rate(despacho_mails_total[5m]) > ) by (outcome)", [
      'syntax error at character 37: ") by (outcome)"',
    ]],
    ["a label the metric lacks", 'despacho_mails_total{status="failed"}', [
      "despacho_mails_total has no label status",
    ]],
    ["a value the label never takes", 'despacho_mails_total{outcome="fail"}', [
      'despacho_mails_total{outcome} is never "fail" (only sent, retried, failed)',
    ]],
    ["a grouping by a label none carries", "sum by (role) (despacho_consumer_lag)", [
      "no metric of the expression has the label role",
    ]],
    ["a histogram's series", 'despacho_http_request_duration_seconds_bucket{le="0.1"}', []],
  ];
  for (const [name, expr, want] of cases) {
    await t.step(name, () => assert.deepEqual(problemsOf(expr), want));
  }
});

Deno.test("infra/alerts.yml: each alert is PromQL over metrics the code exports, with a severity and words for the operator", async (t) => {
  assert.ok(rules.length >= 10, `${rules.length} rules`);
  const names = new Set<string>();
  for (const rule of rules) {
    await t.step(rule.alert ?? rule.record ?? "(unnamed)", () => {
      assert.ok(rule.alert !== undefined, "an alerting rule");
      assert.ok(!names.has(rule.alert), "a name of its own");
      names.add(rule.alert);
      assert.deepEqual(problemsOf(rule.expr), []);
      assert.ok(["page", "ticket"].includes(rule.labels?.severity ?? ""), "severity page|ticket");
      assert.ok((rule.annotations?.summary ?? "").length > 0, "a summary");
      assert.ok((rule.annotations?.description ?? "").length > 0, "a description");
    });
  }
  // What the operator asked to be told about, each by at least one rule.
  for (
    const metric of [
      "despacho_consumer_lag",
      "despacho_dead_letters_total",
      "despacho_mails_total",
      "despacho_role_restarts_total",
      "process_start_time_seconds",
      "despacho_http_requests_total",
      "up",
    ]
  ) {
    assert.ok(rules.some((r) => new RegExp(`\\b${metric}\\b`).test(r.expr)), `a rule on ${metric}`);
  }
});

Deno.test("infra/alerts_test.yml: its series have the shape the code exports, and every alert fires in a case", () => {
  assert.deepEqual(cases.rule_files, ["alerts.yml"]);
  for (const c of cases.tests) {
    for (const s of c.input_series) assert.deepEqual(problemsOf(s.series), [], s.series);
  }
  const fired = new Set(
    cases.tests.flatMap((c) =>
      (c.alert_rule_test ?? []).filter((a) => (a.exp_alerts ?? []).length > 0).map((a) =>
        a.alertname
      )
    ),
  );
  assert.deepEqual([...fired].sort(), rules.map((r) => r.alert).sort());
});

/** Prometheus's promtool's version line, or why it cannot be run. */
async function findPromtool(): Promise<{ version: string } | { why: string }> {
  try {
    const out = await new Deno.Command("promtool", { args: ["--version"], stdout: "piped" })
      .output();
    return out.success
      ? { version: new TextDecoder().decode(out.stdout).split("\n")[0]! }
      : { why: `promtool --version exited with ${out.code}` };
  } catch (error) {
    return { why: (error as Error).message };
  }
}
const found = await findPromtool();
const promtool = "version" in found ? found.version : undefined;
if (promtool === undefined) {
  console.log(
    `Cannot run promtool (${"why" in found ? found.why : ""}; Debian ships it in the ` +
      "prometheus package): the rules are checked by parsing them only, promtool check rules " +
      "and promtool test rules are ignored",
  );
}

async function runPromtool(args: string[], cwd: string) {
  const out = await new Deno.Command("promtool", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  return { success: out.success, text: d.decode(out.stdout) + d.decode(out.stderr) };
}

Deno.test({
  name:
    "promtool check rules and check config: infra/alerts.yml and the Prometheus configuration that loads it are valid",
  ignore: promtool === undefined,
  async fn() {
    const rulesChecked = await runPromtool(["check", "rules", RULES], ROOT.pathname);
    assert.ok(rulesChecked.success, rulesChecked.text);
    assert.match(rulesChecked.text, new RegExp(`SUCCESS: ${rules.length} rules found`));
    // The configuration names the staff token compose mounts: check a copy pointing at a stand-in.
    const dir = await Deno.makeTempDir({ prefix: "despacho-prometheus-" });
    await Deno.writeTextFile(`${dir}/staff_token`, "s".repeat(43));
    await Deno.copyFile(new URL("infra/alerts.yml", ROOT), `${dir}/alerts.yml`);
    await Deno.writeTextFile(
      `${dir}/prometheus.yml`,
      Deno.readTextFileSync(new URL("infra/prometheus.yml", ROOT)).replaceAll(
        "/run/secrets/staff_token",
        `${dir}/staff_token`,
      ),
    );
    const config = await runPromtool(["check", "config", `${dir}/prometheus.yml`], ROOT.pathname);
    await Deno.remove(dir, { recursive: true });
    assert.ok(config.success, config.text);
    assert.match(config.text, /SUCCESS: 1 rule files found/);
  },
});

Deno.test({
  name:
    "promtool test rules: each alert fires on its series (and not before its time), and a changed threshold is caught",
  ignore: promtool === undefined,
  async fn() {
    const ours = await runPromtool(["test", "rules", CASES], ROOT.pathname);
    assert.ok(ours.success, ours.text);
    // The same cases on rules whose lag threshold moved must fail: the cases pin the rules.
    const dir = await Deno.makeTempDir({ prefix: "despacho-alerts-" });
    try {
      const changed = read(RULES).replace(
        "sum by (group) (despacho_consumer_lag) > 1000",
        "sum by (group) (despacho_consumer_lag) > 2000",
      );
      assert.notEqual(changed, read(RULES));
      await Deno.writeTextFile(`${dir}/alerts.yml`, changed);
      await Deno.writeTextFile(`${dir}/alerts_test.yml`, read(CASES));
      const broken = await runPromtool(["test", "rules", "alerts_test.yml"], dir);
      assert.equal(broken.success, false, broken.text);
      assert.match(broken.text, /alertname: ConsumerLagHigh, time: 15m/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
