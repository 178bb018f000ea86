/**
 * A namespaced JSON-lines logger: a fixed message plus a data object, one line per entry, on
 * stderr so stdout stays free for program output.
 */
import process from "node:process";

/** Severity, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Writes structured entries for one namespace. */
export interface Logger {
  debug(message: string, data?: Record<string, unknown>): void;
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
  /** A logger for a sub-namespace (`parent:child`) at the same level. */
  child(namespace: string): Logger;
}

/**
 * Creates a {@linkcode Logger}.
 *
 * @param namespace Shown as `ns` in every entry.
 * @param level Entries below this level are dropped.
 * @param write Where a finished line goes.
 * @default level "info"
 */
export function createLogger(
  namespace: string,
  level: LogLevel = "info",
  write: (line: string) => void = (line) => process.stderr.write(line + "\n"),
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const at = (lvl: LogLevel) =>
    function log(message: string, data?: Record<string, unknown>) {
      if (LOG_LEVELS.indexOf(lvl) < min) return;
      write(JSON.stringify({
        t: new Date().toISOString(),
        level: lvl,
        ns: namespace,
        msg: message,
        ...data,
      }, errorReplacer));
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (ns) => createLogger(`${namespace}:${ns}`, level, write),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const codes = [...new Set(errorCodes(value))];
    return { name: value.name, message: value.message, ...(codes.length ? { codes } : {}) };
  }
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * The protocol error names an error carries in its causes (a Kafka client's wrapper says only
 * that a request failed): `apiId` (@platformatic/kafka) or `type` (kafkajs), depth first.
 */
function errorCodes(error: unknown, depth = 0): string[] {
  if (error === null || typeof error !== "object" || depth > 4) return [];
  const e = error as { apiId?: unknown; type?: unknown; errors?: unknown; cause?: unknown };
  const own = [e.apiId, e.type].filter((c): c is string => typeof c === "string");
  const inner = [...(Array.isArray(e.errors) ? e.errors : []), e.cause]
    .flatMap((c) => errorCodes(c, depth + 1));
  return [...own, ...inner];
}
