/**
 * W3C trace context across HTTP and Kafka: every record Despacho produces carries a `traceparent`
 * header, so one order is one trace from its `POST` to its last mail.
 *
 * Spans go through the standard `@opentelemetry/api`. When the runtime has a tracer (Deno with
 * `OTEL_DENO=true` registers its built-in one, exporting over OTLP as the `OTEL_*` variables say),
 * each hop is a real span, child of the one before. When it has none, the API is a no-op, and this
 * module still keeps the records correlatable: a hop forwards its parent's `traceparent` unchanged,
 * and a hop without a parent (a request that brought none) gets a fresh trace id, not sampled
 * (flags `00`).
 *
 * @example
 * ```ts
 * import { startHop } from "./tracing.ts";
 * const hop = startHop("process order_requests", {
 *   parent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
 *   kind: "consumer",
 * });
 * hop.traceId; // "0af7651916cd43dd8448eb211c80319c"
 * hop.end();
 * ```
 */
import {
  type Attributes,
  isSpanContextValid,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

/** The header that carries trace context, on HTTP requests and on Kafka records. */
export const TRACEPARENT = "traceparent";

/** The parts of a `traceparent` value. */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero: the caller's span. */
  spanId: string;
  /** Trace flags; bit 0 is "sampled". */
  flags: number;
}

const PATTERN = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a `traceparent` value (W3C Trace Context, version 00; a later version is read by its
 * first four fields, as the specification asks).
 *
 * @param value The header value, if any.
 * @returns Its parts, or null when absent or invalid (all-zero ids, version ff, bad length).
 *
 * @example
 * ```ts
 * import { parseTraceparent } from "./tracing.ts";
 * parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")?.traceId;
 * // "0af7651916cd43dd8448eb211c80319c"
 * ```
 */
export function parseTraceparent(value: string | null | undefined): TraceParent | null {
  if (value === null || value === undefined) return null;
  const m = PATTERN.exec(value.trim());
  if (m === null) return null;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === "ff" || (version === "00" && rest !== undefined)) return null;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return null;
  return { traceId: traceId!, spanId: spanId!, flags: parseInt(flags!, 16) };
}

/**
 * Formats trace context as a version-00 `traceparent` value.
 *
 * @param tp Trace id, parent span id and flags.
 * @returns `00-<trace-id>-<span-id>-<flags>`.
 */
export function formatTraceparent(tp: TraceParent): string {
  return `00-${tp.traceId}-${tp.spanId}-${(tp.flags & 0xff).toString(16).padStart(2, "0")}`;
}

/**
 * A `traceparent` for a trace that starts here and is not recorded: random ids, flags `00`.
 *
 * @returns A valid, fresh `traceparent` value.
 */
export function newTraceparent(): string {
  // One draw for both ids; hex through a table (this runs for every request that brings none).
  const b = crypto.getRandomValues(new Uint8Array(24));
  b[15]! |= 1; // never all zero
  b[23]! |= 1;
  let hex = "";
  for (let i = 0; i < 24; i++) hex += HEX[b[i]!];
  return `00-${hex.slice(0, 32)}-${hex.slice(32)}-00`;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The trace id of a `traceparent` value, or null when it is not a valid one. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  return parseTraceparent(traceparent)?.traceId ?? null;
}

/** The kinds of hop Despacho has (OpenTelemetry span kinds). */
export type HopKind = "server" | "client" | "producer" | "consumer" | "internal";

const KINDS: Record<HopKind, SpanKind> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  internal: SpanKind.INTERNAL,
};

/** Options of {@linkcode startHop}. */
export interface HopOptions {
  /** The `traceparent` this hop continues (a request header, a record header). */
  parent?: string | null | undefined;
  /** Where the parent comes from when it is not a header: an active span (e.g. `Deno.serve`'s). */
  parentContext?: SpanContext | undefined;
  /** @default "internal" */
  kind?: HopKind;
  attributes?: Attributes;
  /** Other traces this hop relates to (e.g. the records a transaction carries). */
  links?: Link[];
}

/** One unit of work of a trace. */
export interface Hop {
  /** What the records and requests this hop produces carry in their `traceparent` header. */
  readonly traceparent: string;
  /** The trace id (32 hex digits). */
  readonly traceId: string;
  /** The span, for attributes and events; a no-op span when nothing records. */
  readonly span: Span;
  /**
   * Ends the hop once (later calls do nothing).
   *
   * @param error A failure to record on the span (status error).
   */
  end(error?: unknown): void;
}

const tracer = trace.getTracer("despacho");

/**
 * Starts a hop: a span child of `parent` when a tracer records, else the parent's context
 * forwarded (or a fresh one when there is no parent).
 *
 * @param name The span name (`POST /orders`, `process order_requests`, `smtp send`).
 * @param options Parent, kind, attributes, links.
 * @returns The hop; end it when its work is done.
 */
export function startHop(name: string, options: HopOptions = {}): Hop {
  const parsed = parseTraceparent(options.parent);
  const parentContext: SpanContext | undefined = options.parentContext !== undefined &&
      isSpanContextValid(options.parentContext)
    ? options.parentContext
    : parsed === null
    ? undefined
    : { traceId: parsed.traceId, spanId: parsed.spanId, traceFlags: parsed.flags, isRemote: true };
  const ctx = parentContext === undefined
    ? ROOT_CONTEXT
    : trace.setSpanContext(ROOT_CONTEXT, parentContext);
  const span = tracer.startSpan(name, {
    kind: KINDS[options.kind ?? "internal"],
    ...(options.attributes === undefined ? {} : { attributes: options.attributes }),
    ...(options.links === undefined ? {} : { links: options.links }),
  }, ctx);
  const sc = span.spanContext();
  // A no-op tracer answers the parent's own context (forwarded as it is), or an invalid one.
  const traceparent = isSpanContextValid(sc)
    ? formatTraceparent({ traceId: sc.traceId, spanId: sc.spanId, flags: sc.traceFlags })
    : newTraceparent();
  let ended = false;
  return {
    traceparent,
    traceId: traceparent.slice(3, 35),
    span,
    end(error?: unknown) {
      if (ended) return;
      ended = true;
      if (error !== undefined) {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
      }
      span.end();
    },
  };
}

/**
 * A link to the trace a `traceparent` names, for {@linkcode HopOptions.links}.
 *
 * @returns The link, or null when the value is not a valid `traceparent`.
 */
export function linkTo(traceparent: string | null | undefined): Link | null {
  const p = parseTraceparent(traceparent);
  return p === null ? null : {
    context: { traceId: p.traceId, spanId: p.spanId, traceFlags: p.flags, isRemote: true },
  };
}

/**
 * Attributes of a hop that handles or produces a Kafka record (OpenTelemetry messaging
 * conventions).
 *
 * @param operation `process` or `send`.
 * @param topic The topic.
 * @param where The partition and offset of a record read.
 */
export function kafkaAttributes(
  operation: "process" | "send",
  topic: string,
  where?: { partition: number; offset: string },
): Attributes {
  return {
    "messaging.system": "kafka",
    "messaging.operation.type": operation,
    "messaging.destination.name": topic,
    ...(where === undefined ? {} : {
      "messaging.destination.partition.id": String(where.partition),
      "messaging.kafka.offset": Number(where.offset),
    }),
  };
}
