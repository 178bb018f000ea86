/**
 * What the Spark comparison (`bench/spark.ts`) needs on this machine, installed on first use into
 * the project's `.cache/`, like the Kafka broker's jars (`infra/kafka.ts`):
 *
 * - `pyspark==4.2.0` from PyPI, with pip, in a virtual environment `.cache/spark-venv` (a 450 MB
 *   download that pip builds into a wheel, 512 MB installed; Spark's own jars come with it);
 * - Spark's Kafka connector `org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0` and what it needs
 *   beyond pyspark (kafka-clients, the token provider, commons-pool2, about 10 MB), resolved from
 *   Maven Central with `mvn` (`bench/spark/pom.xml`) into `.cache/spark/4.2.0/jars`;
 * - Java 17 or newer on PATH, which Spark 4 runs on.
 *
 * Each step says what it does, and every 15 s how long it has taken so far; a step that cannot be
 * done throws one sentence naming what is missing.
 */
import { ensureVenvPackage, runTool, type ToolRun } from "../infra/python.ts";

/** The Spark version of the comparison, on PyPI (pyspark) and Maven Central (the connector). */
export const SPARK_VERSION = "4.2.0";

const ROOT = new URL("../", import.meta.url).pathname;
const VENV = `${ROOT}.cache/spark-venv`;
const JARS = `${ROOT}.cache/spark/${SPARK_VERSION}/jars`;

/** Where the comparison's Spark lives once {@linkcode ensureSpark} has run. */
export interface SparkInstall {
  /** The venv's Python, which has pyspark. */
  python: string;
  /** The folder of the Kafka connector's jars (only those pyspark does not ship). */
  jars: string;
  /** The Spark job (`bench/spark/job.py`). */
  job: string;
  /** `java -version`'s first line. */
  java: string;
}

/**
 * Makes sure pyspark, the Kafka connector's jars and Java are there, installing what is missing
 * (first run only).
 *
 * @param say Progress lines.
 * @returns Where they are.
 * @throws {Error} When Java 17+, Python 3.10+ with venv and pip, or Maven is missing, or a download
 * fails; the message names what to install or the tool's last output.
 */
export async function ensureSpark(
  say: (line: string) => void = console.error,
): Promise<SparkInstall> {
  const java = await ensureJava();
  const python = await ensurePyspark(say);
  const jars = await ensureConnectorJars(python, say);
  return { python, jars, job: `${ROOT}bench/spark/job.py`, java };
}

async function ensureJava(): Promise<string> {
  const out = await run("java", ["-version"]).catch(() => null);
  const first = out?.text.split("\n").find((l) => /version/.test(l)) ?? "";
  const major = Number(/version "(\d+)/.exec(first)?.[1] ?? NaN);
  if (out === null || !out.success || !(major >= 17)) {
    throw new Error(
      `Cannot run Spark ${SPARK_VERSION}: it needs Java 17 or newer on PATH: current value is ${
        first ? `"${first.trim()}"` : "no java"
      }`,
    );
  }
  return first.trim();
}

function ensurePyspark(say: (line: string) => void): Promise<string> {
  return ensureVenvPackage({
    venv: VENV,
    pkg: "pyspark",
    module: "pyspark",
    version: SPARK_VERSION,
    prefix: "spark",
    size: "a 450 MB download that pip builds into a wheel, about 1 minute here",
  }, say);
}

async function ensureConnectorJars(python: string, say: (line: string) => void): Promise<string> {
  try {
    if ([...Deno.readDirSync(JARS)].some((e) => e.name.startsWith("spark-sql-kafka"))) return JARS;
  } catch { /* not resolved yet */ }
  say(
    `spark: resolving org.apache.spark:spark-sql-kafka-0-10_2.13:${SPARK_VERSION} from Maven Central with mvn (first run only, about 10 MB)…`,
  );
  const part = `${JARS}.part`;
  await Deno.remove(part, { recursive: true }).catch(() => {});
  const out = await run(
    "mvn",
    [
      "-q",
      "-B",
      "-f",
      `${ROOT}bench/spark/pom.xml`,
      `-Dspark.version=${SPARK_VERSION}`,
      "dependency:copy-dependencies",
      "-DincludeScope=runtime",
      `-DoutputDirectory=${part}`,
    ],
    say,
    "resolving the connector's jars with mvn",
  ).catch((error) => {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `Cannot resolve Spark's Kafka connector: mvn is not installed (the bench needs Maven, as the Kafka broker does)`,
      );
    }
    throw error;
  });
  if (!out.success) {
    throw new Error(
      `Cannot resolve Spark's Kafka connector with mvn: exit code ${out.code}: ${
        out.text.slice(-2000).trim()
      }`,
    );
  }
  // A jar pyspark already ships (in another version, perhaps) would put two copies of its classes
  // on the classpath: keep pyspark's.
  const shipped = await run(python, [
    "-c",
    "import os, pyspark; print('\\n'.join(os.listdir(os.path.join(os.path.dirname(pyspark.__file__), 'jars'))))",
  ]);
  const artifacts = new Set(shipped.text.split("\n").map(artifactOf));
  for (const e of [...Deno.readDirSync(part)]) {
    if (artifacts.has(artifactOf(e.name))) await Deno.remove(`${part}/${e.name}`);
  }
  await Deno.remove(JARS, { recursive: true }).catch(() => {});
  await Deno.rename(part, JARS);
  const names = [...Deno.readDirSync(JARS)].map((e) => e.name).sort();
  say(`spark: connector jars cached in ${JARS}: ${names.join(", ")}`);
  return JARS;
}

/**
 * The artifact name of a jar file name: `kafka-clients-3.9.2.jar` → `kafka-clients`.
 *
 * @param file A jar's file name.
 * @returns The name without version and extension.
 *
 * @example
 * ```ts
 * import { artifactOf } from "./spark_setup.ts";
 * artifactOf("spark-sql-kafka-0-10_2.13-4.2.0.jar"); // "spark-sql-kafka-0-10_2.13"
 * ```
 */
export function artifactOf(file: string): string {
  return file.trim().replace(/\.jar$/, "").replace(/-\d+(\.\d+)+.*$/, "");
}

/** Runs a command to its end; with `say` and `doing`, says every 15 s how long it has run. */
function run(
  cmd: string,
  args: string[],
  say?: (line: string) => void,
  doing?: string,
): Promise<ToolRun> {
  return runTool(cmd, args, say && doing ? { say, prefix: "spark", doing } : undefined);
}
