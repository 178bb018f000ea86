/**
 * The wire format pieces of the gateway's HTTP/1.1 server (`gateway/http1.ts`): the grammar it
 * accepts, how it refuses, and how it writes.
 */

/** Carriage return. */
export const CR = 13;
/** Line feed. */
export const LF = 10;
/** A method or a header field name (RFC 9110 token). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * The methods served (RFC 9110 §9 and PATCH): methods are case-sensitive, so `get` is not GET and
 * is refused, as llhttp (Node's parser) refuses it.
 */
export const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);
/** A control character a field value may not hold (RFC 9110 §5.5: of the controls, HTAB only). */
// deno-lint-ignore no-control-regex
const VALUE_CTL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Optional whitespace around a field value (RFC 9110 §5.6.3): space and tab, nothing else. */
const OWS_EDGES = /^[ \t]+|[ \t]+$/g;
/**
 * A chunk-size line (RFC 9112 §7.1): hex digits (at most 8: a body is bounded far below 4 GiB),
 * then extensions `;name` or `;name=token` or `;name="quoted"`, with no whitespace anywhere, as
 * llhttp's strict mode wants. A leading space or a trailing one is refused.
 */
export const CHUNK_SIZE_LINE =
  /^([0-9A-Fa-f]{1,8})(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)*$/;
/** A request target: visible ASCII, no space. */
export const TARGET = /^[\x21-\x7e]+$/;
/** A registered name, IPv4 or bracketed IPv6 address, with an optional port: nothing that moves the path. */
export const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_~%!$&'()*+,;=]+)(:\d{1,5})?$/;

/** Reason phrases of the statuses the gateway answers. */
export const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  207: "Multi-Status",
  304: "Not Modified",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

/** A request the server refuses itself, with the problem it answers. */
export class Refusal extends Error {
  /**
   * @param status The HTTP status.
   * @param title The problem's title.
   * @param detail This occurrence, naming the value.
   */
  constructor(readonly status: number, readonly title: string, detail: string) {
    super(detail);
  }
}

let dateSecond = 0;
let dateValue = "";
/** The `Date` header value, computed once a second. */
export function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/** Writes a header block's characters (ByteStrings: each at most U+00FF) as bytes. */
export function latin1Into(text: string, out: Uint8Array): void {
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
}

/** Writes all of `bytes`, however many writes it takes. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Index just past the first CRLF CRLF in `buf[from, to)`, or -1. */
export function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  for (let i = buf.subarray(from, to).indexOf(CR); i !== -1;) {
    const at = from + i;
    if (at + 3 < to && buf[at + 1] === LF && buf[at + 2] === CR && buf[at + 3] === LF) {
      return at + 4;
    }
    if (at + 3 >= to) return -1;
    const rest = buf.subarray(at + 1, to).indexOf(CR);
    i = rest === -1 ? -1 : at + 1 + rest - from;
  }
  return -1;
}

/**
 * Index of the first CR not followed by LF or LF not preceded by CR in `buf[from, to)`, or -1.
 * RFC 9112 §2.2 lets a server take a bare LF as a line end; this one refuses it, as llhttp does,
 * since a parser in front that reads line ends otherwise would see other requests. A CR at
 * `to - 1` is not judged yet: scan again from it once more bytes arrived.
 *
 * @param start Where the request begins: an LF there has no CR before it.
 */
export function findBareLineEnd(buf: Uint8Array, start: number, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const byte = buf[i];
    if (byte === LF && (i === start || buf[i - 1] !== CR)) return i;
    if (byte === CR && i + 1 < to && buf[i + 1] !== LF) return i;
  }
  return -1;
}

/**
 * Splits a header or trailer field line into its name and its value without the optional
 * whitespace around it.
 *
 * @param line The line, without its CRLF.
 * @param where For the refusal: `header line 3`.
 * @throws {Refusal} 400 when the name is not a token followed at once by a colon (so no
 * whitespace before the colon and no obs-fold), or the value holds a control character.
 */
export function parseFieldLine(line: string, where: string): [string, string] {
  const colon = line.indexOf(":");
  const name = colon > 0 ? line.slice(0, colon) : "";
  if (!TOKEN.test(name)) {
    throw new Refusal(400, "Bad request", `Cannot read request: ${where} is not "name: value"`);
  }
  const value = line.slice(colon + 1).replace(OWS_EDGES, "");
  if (VALUE_CTL.test(value)) {
    throw new Refusal(
      400,
      "Bad request",
      `Cannot read request: header ${name} holds a control character`,
    );
  }
  return [name, value];
}

/**
 * Splits a request line into method, target and version.
 *
 * @throws {Refusal} 400 when malformed, 501 for a method other than {@linkcode METHODS}, 505 for
 * a version other than HTTP/1.0 or 1.1.
 */
export function parseRequestLine(line: string): [string, string, string] {
  const parts = line.split(" ");
  if (parts.length !== 3 || !TOKEN.test(parts[0]!) || !TARGET.test(parts[1]!)) {
    throw new Refusal(400, "Bad request", "Cannot read request: malformed request line");
  }
  if (!METHODS.has(parts[0]!)) {
    throw new Refusal(
      501,
      "Not implemented",
      `Cannot read request: method must be one of ${[...METHODS].join(", ")}: current value is "${
        parts[0]!.slice(0, 20)
      }"`,
    );
  }
  const version = parts[2]!;
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new Refusal(
      505,
      "HTTP version not supported",
      `Cannot read request: HTTP version must be 1.1 or 1.0: current value is "${
        version.slice(0, 20)
      }"`,
    );
  }
  return [parts[0]!, parts[1]!, version];
}

/**
 * The URL of a request from its target and `Host`.
 *
 * @throws {Refusal} 400 when the target is neither a path nor an http URL.
 */
export function requestUrl(target: string, host: string, scheme = "http"): string {
  if (target.startsWith("/")) return `${scheme}://${host}${target}`;
  if (/^https?:\/\//i.test(target)) return target;
  throw new Refusal(400, "Bad request", "Cannot read request: target is not an http URL");
}

/** The problem+json answer of a refusal. */
export function problemResponse(refusal: Refusal): Response {
  const type = `https://despacho.local/problems/${
    refusal.title.toLowerCase().replace(/[^a-z0-9]+/g, "-")
  }`;
  return new Response(
    JSON.stringify({ type, title: refusal.title, status: refusal.status, detail: refusal.message }),
    { status: refusal.status, headers: { "content-type": "application/problem+json" } },
  );
}
