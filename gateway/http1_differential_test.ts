/**
 * The gateway's HTTP/1.1 parser against a reference parser, over real sockets: each request of the
 * corpus below goes, byte for byte, to the gateway's server (the real app with a stub publisher, as
 * in `server_test.ts`, and a route answering what it was asked) and to Node's `node:http` (llhttp, strict mode) in a child
 * process, or `Deno.serve` when `node` is missing. The gateway must never let its app answer a
 * request the reference refuses, never answer a request smuggled in another's body, and answer
 * every request it refuses with a problem before closing: never a hang.
 *
 * The corpus is written from RFC 9112 (message syntax and framing) and the published
 * request-smuggling classes: CL.TE (the front end reads Content-Length, the back end chunked),
 * TE.CL (the reverse) and TE.TE (an obfuscated Transfer-Encoding one side ignores).
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { loadConfig } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { OrderView } from "./order_view.ts";
import { startReferenceServer } from "../infra/http_reference.ts";
import { Admission } from "./admission.ts";
import { orderApp } from "../infra/test_gateway.ts";
import { serveApp } from "./server.ts";

/** A request of the corpus, and what the gateway must do with it. */
interface Case {
  name: string;
  /** Sent as is, one byte per character (latin1). */
  bytes: string;
  /** What the gateway's app answers, in order (`METHOD /path`): none when refused at once. */
  answers: string[];
  /** The status of the gateway's refusal after those answers; none when it serves them all. */
  refusal?: number;
}

/** A request head: the lines, CRLF after each, then the empty line. */
const head = (...lines: string[]) => `${lines.join("\r\n")}\r\n\r\n`;
/** A chunked body of `text` in one chunk, then the last chunk. */
const chunked = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n0\r\n\r\n`;
/** A whole request hidden in the body of another: a server must never answer it. */
const SMUGGLED = head("GET /probe/smuggled HTTP/1.1", "Host: a");
/** A last request asking to close, so a server that serves everything closes the connection. */
const LAST = head("GET /probe/last HTTP/1.1", "Host: a", "Connection: close");
const CLOSE = "Connection: close";

const corpus: Case[] = [
  // Baselines: well-formed requests both parsers serve, so a refusal below is about its flaw.
  {
    name: "a well-formed GET",
    bytes: head("GET /probe/plain HTTP/1.1", "Host: a", CLOSE),
    answers: ["GET /probe/plain"],
  },
  {
    name: "a POST with Content-Length",
    bytes: head("POST /probe/cl HTTP/1.1", "Host: a", "Content-Length: 5", CLOSE) + "hello",
    answers: ["POST /probe/cl"],
  },
  {
    // RFC 9112 §7.1.1: a chunk extension is ";" name ["=" value], and is ignored when unknown.
    name: "a chunked POST with a chunk extension",
    bytes: head("POST /probe/te HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", CLOSE) +
      "5;name=value\r\nhello\r\n0\r\n\r\n",
    answers: ["POST /probe/te"],
  },
  {
    // RFC 9112 §9.3.2: pipelined requests are answered in order; a body ends its request.
    name: "pipelined requests after a Content-Length body and a chunked body",
    bytes: head("POST /probe/one HTTP/1.1", "Host: a", "Content-Length: 3") + "abc" +
      head("POST /probe/two HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      chunked("de") + LAST,
    answers: ["POST /probe/one", "POST /probe/two", "GET /probe/last"],
  },
  {
    // RFC 9112 §3.2.2: an absolute-form target is the target; Host is then ignored.
    name: "an absolute-form target",
    bytes: head("GET http://a/probe/absolute HTTP/1.1", "Host: a", CLOSE),
    answers: ["GET /probe/absolute"],
  },
  {
    // RFC 9110 §8.6: Content-Length = 1*DIGIT, leading zeros included.
    name: "a Content-Length with leading zeros",
    bytes: head("POST /probe/zeros HTTP/1.1", "Host: a", "Content-Length: 005", CLOSE) + "hello",
    answers: ["POST /probe/zeros"],
  },
  {
    // RFC 9112 §7: transfer coding names are case-insensitive; §7.1.1: a quoted extension value.
    name: "Transfer-Encoding: CHUNKED with a quoted chunk extension",
    bytes: head("POST /probe/upper HTTP/1.1", "Host: a", "Transfer-Encoding: CHUNKED", CLOSE) +
      '5;name="a b"\r\nhello\r\n0\r\n\r\n',
    answers: ["POST /probe/upper"],
  },
  {
    // RFC 9110 §5.5: obs-text (bytes 0x80 to 0xFF) is allowed in a field value.
    name: "a header value with obs-text",
    bytes: head("GET /probe/obs-text HTTP/1.1", "Host: a", "X-Name: caf\xe9", CLOSE),
    answers: ["GET /probe/obs-text"],
  },
  {
    // RFC 9110 §5.5: leading and trailing whitespace (OWS, space or tab) is not part of a value.
    name: "Transfer-Encoding with a space or a tab before the value",
    bytes: head("POST /probe/ows HTTP/1.1", "Host: a", "Transfer-Encoding:  chunked") +
      chunked("ab") + head("POST /probe/tab HTTP/1.1", "Host: a", "Transfer-Encoding:\tchunked") +
      chunked("cd") + LAST,
    answers: ["POST /probe/ows", "POST /probe/tab", "GET /probe/last"],
  },

  // Requests smuggled inside a body that is correctly framed: data, never a request.
  {
    // RFC 9112 §6.2: Content-Length octets are the body, whatever they look like.
    name: "a request inside a Content-Length body",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", `Content-Length: ${SMUGGLED.length}`) +
      SMUGGLED + LAST,
    answers: ["POST /probe/outer", "GET /probe/last"],
  },
  {
    // RFC 9112 §7.1: chunk data is data.
    name: "a request inside a chunk",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      chunked(SMUGGLED) + LAST,
    answers: ["POST /probe/outer", "GET /probe/last"],
  },
  {
    // RFC 9112 §6.3: a GET's Content-Length frames a body too (RFC 9110 §9.3.1: it has no meaning).
    name: "a request inside a GET's Content-Length body",
    bytes: head("GET /probe/outer HTTP/1.1", "Host: a", `Content-Length: ${SMUGGLED.length}`) +
      SMUGGLED + LAST,
    answers: ["GET /probe/outer", "GET /probe/last"],
  },

  {
    // RFC 9112 §9.3: an HTTP/1.0 request closes the connection after its answer.
    name: "a request inside an HTTP/1.0 Content-Length body",
    bytes: head("POST /probe/outer HTTP/1.0", "Host: a", `Content-Length: ${SMUGGLED.length}`) +
      SMUGGLED,
    answers: ["POST /probe/outer"],
  },

  // CL.TE and TE.CL: both framings in one request (RFC 9112 §6.1, §6.3 item 3: a server may
  // refuse it, and must close the connection after answering it in any case).
  {
    name: "CL.TE: Content-Length covering a chunked body that ends early, a request after it",
    bytes: head(
      "POST /probe/outer HTTP/1.1",
      "Host: a",
      `Content-Length: ${5 + SMUGGLED.length}`,
      "Transfer-Encoding: chunked",
    ) + "0\r\n\r\n" + SMUGGLED + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "TE.CL: a short Content-Length before a chunk holding a request",
    bytes: head(
      "POST /probe/outer HTTP/1.1",
      "Host: a",
      "Content-Length: 4",
      "Transfer-Encoding: chunked",
    ) + chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "TE.CL with Transfer-Encoding first and a zero Content-Length",
    bytes: head(
      "POST /probe/outer HTTP/1.1",
      "Host: a",
      "Transfer-Encoding: chunked",
      "Content-Length: 0",
    ) + chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 400,
  },

  // TE.TE: a Transfer-Encoding one parser reads as chunked and another does not.
  {
    // RFC 9112 §6.3 item 4: chunked must be the final coding of a request, else 400 and close.
    name: "TE.TE: Transfer-Encoding: xchunked with Content-Length",
    bytes: head(
      "POST /probe/outer HTTP/1.1",
      "Host: a",
      "Transfer-Encoding: xchunked",
      `Content-Length: ${SMUGGLED.length}`,
    ) + SMUGGLED + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9112 §6.3 item 4; RFC 9110 §10.1.4 (no identity coding since RFC 7230).
    name: "TE.TE: Transfer-Encoding: chunked, identity",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, identity") +
      chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 501,
  },
  {
    // RFC 9112 §6.1: repeated fields are one list, "chunked, identity": chunked is not final.
    name: "TE.TE: Transfer-Encoding: chunked then Transfer-Encoding: identity",
    bytes: head(
      "POST /probe/outer HTTP/1.1",
      "Host: a",
      "Transfer-Encoding: chunked",
      "Transfer-Encoding: identity",
    ) + chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 501,
  },
  {
    // RFC 9112 §5.1: no whitespace between a field name and its colon; a server must answer 400.
    name: "TE.TE: Transfer-Encoding : chunked (space before the colon)",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding : chunked") +
      chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9112 §6.1: a server that receives both framings must close after answering.
    name: "TE.TE: Transfer-Encoding with a leading space and a Content-Length",
    bytes: head(
      "POST /probe/outer HTTP/1.1",
      "Host: a",
      "Content-Length: 0",
      "Transfer-Encoding:  chunked",
    ) + chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9110 §5.5: a field value has no control characters other than HTAB.
    name: "TE.TE: Transfer-Encoding with a vertical tab before chunked",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: \x0bchunked") +
      chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9110 §5.6.3: OWS is space and tab; a no-break space (0xA0) is a character of the value,
    // which JavaScript's trim() would remove.
    name: "TE.TE: Transfer-Encoding with a no-break space before chunked",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: \xa0chunked") +
      chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 501,
  },
  {
    // RFC 9112 §2.2: whitespace between the start line and the first field must be refused (or
    // the line ignored): a parser that joins it to the request line loses the field.
    name: "TE.TE: whitespace before the first field, Transfer-Encoding",
    bytes: head(
      "POST /probe/outer HTTP/1.1",
      " Transfer-Encoding: chunked",
      "Host: a",
      `Content-Length: ${chunked(SMUGGLED).length}`,
    ) + chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9112 §5.2: obs-fold is refused with 400 (or replaced by spaces) outside message/http.
    name: "TE.TE: Transfer-Encoding folded onto a second line (obs-fold)",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding:", " chunked") +
      chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9112 §6.1: HTTP/1.0 has no chunked; a Transfer-Encoding in a 1.0 request is faulty
    // framing, even beside a Content-Length.
    name: "HTTP/1.0 with Transfer-Encoding: chunked",
    bytes: head("POST /probe/outer HTTP/1.0", "Host: a", "Transfer-Encoding: chunked") +
      chunked(SMUGGLED) + LAST,
    answers: [],
    refusal: 400,
  },

  // Content-Length (RFC 9112 §6.3 item 5, RFC 9110 §8.6: 1*DIGIT; anything else is a 400).
  {
    // RFC 9110 §8.6 allows reading identical values as one; refusing is the safe side of it.
    name: "two Content-Length fields with the same value",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 5") +
      "hello" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "two Content-Length fields with different values",
    bytes:
      head("POST /probe/outer HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 50") +
      "hello" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a Content-Length list (5, 5)",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Content-Length: 5, 5") + "hello" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a non-numeric Content-Length",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Content-Length: five") + "hello" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a Content-Length with a plus sign",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Content-Length: +5") + "hello" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a negative Content-Length",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Content-Length: -5") + "hello" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a Content-Length past 2^64",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Content-Length: 18446744073709551621") +
      "hello" + LAST,
    answers: [],
    refusal: 400,
  },

  // Chunk sizes (RFC 9112 §7.1: chunk-size = 1*HEXDIG, then chunk-ext, then CRLF).
  {
    name: "a chunk size with a leading space",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      " 5\r\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a chunk size with trailing junk",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "5x\r\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a chunk size with a trailing space",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "5 \r\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a negative chunk size",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "-5\r\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a chunk size with a 0x prefix",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "0x5\r\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // A size that wraps to 5 in 64 bits would make the rest of the body a request.
    name: "a chunk size overflowing 64 bits",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "10000000000000005\r\nhello\r\n0\r\n\r\n" + SMUGGLED + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "a huge chunk size",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "ffffffffffffffffffffffff\r\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9112 §7.1.1: a chunk extension's name is a token.
    name: "a chunk extension that is not a token",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "5;\x01\r\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "chunk data longer than its size",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "2\r\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9112 §7.1.2: a trailer section holds field lines, not a request line.
    name: "a request in the trailer section",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "0\r\n" + SMUGGLED + LAST,
    answers: [],
    refusal: 400,
  },

  // Line ends (RFC 9112 §2.2: CRLF; a bare CR is invalid; a bare LF may be accepted, a choice the
  // gateway does not make).
  {
    name: "bare LF line ends",
    bytes: "GET /probe/lf HTTP/1.1\nHost: a\nConnection: close\n\n",
    answers: [],
    refusal: 400,
  },
  {
    name: "one header line ended by a bare LF",
    bytes: "GET /probe/lf HTTP/1.1\r\nHost: a\nConnection: close\r\n\r\n",
    answers: [],
    refusal: 400,
  },
  {
    name: "a chunk size ended by a bare LF",
    bytes: head("POST /probe/outer HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") +
      "5\nhello\r\n0\r\n\r\n" + LAST,
    answers: [],
    refusal: 400,
  },
  {
    name: "bare CR line ends",
    bytes: "GET /probe/cr HTTP/1.1\rHost: a\rConnection: close\r\r",
    answers: [],
    refusal: 400,
  },
  {
    name: "a bare CR inside a header value",
    bytes: head("GET /probe/cr HTTP/1.1", "Host: a", "X-A: b\rc", CLOSE),
    answers: [],
    refusal: 400,
  },

  // The request line (RFC 9112 §3: method SP request-target SP HTTP-version; RFC 9110 §9.1).
  {
    // RFC 9110 §9.1: methods are case-sensitive; `get` is not GET.
    name: "a lowercase method",
    bytes: head("get /probe/lower HTTP/1.1", "Host: a", CLOSE),
    answers: [],
    refusal: 501,
  },
  {
    name: "an unknown method",
    bytes: head("FROB /probe/frob HTTP/1.1", "Host: a", CLOSE),
    answers: [],
    refusal: 501,
  },
  {
    name: "two spaces after the method",
    bytes: head("GET  /probe/spaces HTTP/1.1", "Host: a", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "a space after the version",
    bytes: head("GET /probe/spaces HTTP/1.1 ", "Host: a", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "a tab between method and target",
    bytes: head("GET\t/probe/tab HTTP/1.1", "Host: a", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    // RFC 9112 §2.3: HTTP-name is "HTTP", case-sensitive.
    name: "a lowercase version",
    bytes: head("GET /probe/version http/1.1", "Host: a", CLOSE),
    answers: [],
    refusal: 505,
  },
  {
    // RFC 9112 §3.2: a request without a Host (HTTP/1.1) gets 400.
    name: "no Host",
    bytes: head("GET /probe/host HTTP/1.1", CLOSE),
    answers: [],
    refusal: 400,
  },

  // Header fields (RFC 9112 §5: field-name is a token, then ":" OWS field-value OWS; RFC 9110
  // §5.5: no CTL in a value but HTAB).
  {
    name: "a space inside a header name",
    bytes: head("GET /probe/name HTTP/1.1", "Host: a", "X Forwarded: b", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "a header name with a character outside token",
    bytes: head("GET /probe/name HTTP/1.1", "Host: a", "X-A(b): c", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "an empty header name",
    bytes: head("GET /probe/name HTTP/1.1", "Host: a", ": c", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "a header line without a colon",
    bytes: head("GET /probe/name HTTP/1.1", "Host: a", "X-A", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "a NUL in a header value",
    bytes: head("GET /probe/nul HTTP/1.1", "Host: a", "X-A: b\0c", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "a DEL in a header value",
    bytes: head("GET /probe/del HTTP/1.1", "Host: a", "X-A: b\x7fc", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "a NUL in a header name",
    bytes: head("GET /probe/nul HTTP/1.1", "Host: a", "X-\0A: b", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "a control character in a header value",
    bytes: head("GET /probe/ctl HTTP/1.1", "Host: a", "X-A: b\x01c", CLOSE),
    answers: [],
    refusal: 400,
  },
  {
    name: "obs-fold in an ordinary header",
    bytes: head("GET /probe/fold HTTP/1.1", "Host: a", "X-A: b", " c", CLOSE),
    answers: [],
    refusal: 400,
  },
];

/** One answer read off the wire. */
interface Answer {
  status: number;
  /** `METHOD /path` for an answer of the app; absent for the server's own refusal. */
  probe: string | undefined;
  /** Whether it is a problem (`application/problem+json`), as every refusal of the gateway is. */
  problem: boolean;
  body: string;
  /** The reference's reason for a refusal (llhttp's error code). */
  reason: string | undefined;
}

/** What a server did with one case's bytes. */
interface Outcome {
  answers: Answer[];
  /** Whether the server closed the connection (else the guard gave up waiting). */
  closed: boolean;
}

/**
 * Longest wait for a server to close the connection: every case ends in a request asking to close,
 * or is refused, so only a server that hangs reaches it.
 */
const HANG_GUARD_MS = 5_000;

async function exchange(port: number, bytes: string): Promise<Outcome> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let hung = false;
  const guard = setTimeout(() => {
    hung = true;
    conn.close();
  }, HANG_GUARD_MS);
  let text = "";
  const latin1 = new TextDecoder("latin1");
  try {
    await conn.write(Uint8Array.from(bytes, (c) => c.charCodeAt(0))).catch(() => 0);
    const buf = new Uint8Array(64 * 1024);
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      text += latin1.decode(buf.subarray(0, n));
    }
  } catch {
    // Reset after a refusal, or closed by the guard.
  } finally {
    clearTimeout(guard);
    if (!hung) conn.close();
  }
  return { answers: parseAnswers(text), closed: !hung };
}

/** Splits what a server wrote into answers, each framed by its Content-Length or chunked. */
function parseAnswers(text: string): Answer[] {
  const answers: Answer[] = [];
  for (let at = 0; at < text.length;) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end === -1) break;
    const [statusLine = "", ...fields] = text.slice(at, end).split("\r\n");
    const headers = new Map(fields.map((f) => {
      const colon = f.indexOf(":");
      return [f.slice(0, colon).toLowerCase(), f.slice(colon + 1).trim()] as const;
    }));
    const status = Number(statusLine.match(/^HTTP\/1\.[01] (\d{3})/)?.[1] ?? 0);
    at = end + 4;
    let body = "";
    if (headers.get("transfer-encoding") === "chunked") {
      // Node's own 400 to a request without Host comes chunked.
      for (;;) {
        const lineEnd = text.indexOf("\r\n", at);
        if (lineEnd === -1) break;
        const size = parseInt(text.slice(at, lineEnd), 16);
        body += text.slice(lineEnd + 2, lineEnd + 2 + size);
        at = lineEnd + 2 + size + 2;
        if (!(size > 0)) break;
      }
    } else {
      const length = Number(headers.get("content-length") ?? 0);
      body = text.slice(at, at + length);
      at += length;
    }
    if (status === 100) continue;
    answers.push({
      status,
      probe: headers.get("x-probe"),
      problem: headers.get("content-type") === "application/problem+json",
      body,
      reason: headers.get("x-reference-error"),
    });
  }
  return answers;
}

/**
 * The answers of the app, as compared between the servers: method, path, and the body read (not a
 * GET's: the gateway reads it to find the next request, and drops it).
 */
function served(outcome: Outcome): string[] {
  return outcome.answers.flatMap((a) =>
    a.probe === undefined ? [] : [a.probe.startsWith("GET ") ? a.probe : `${a.probe} ${a.body}`]
  );
}

function describe(outcome: Outcome): string {
  const answers = outcome.answers.map((a) =>
    `${a.status}${a.probe === undefined ? "" : ` ${a.probe}`}${
      a.reason === undefined ? "" : ` (${a.reason})`
    }`
  );
  return `[${answers.join(", ")}]${outcome.closed ? "" : ` still open after ${HANG_GUARD_MS} ms`}`;
}

/** The gateway's real app and server on a free port, with a stub publisher. */
function gateway() {
  const config = loadConfig({
    PORT: "0",
    HTTP_SERVER: "strict",
    // Longer than the hang guard: a request the server leaves waiting shows as a hang, not a 408.
    HEADERS_TIMEOUT_MS: "60000",
    REQUEST_TIMEOUT_MS: "60000",
    KEEP_ALIVE_TIMEOUT_MS: "60000",
  });
  const publisher = { ready: () => true, publish: () => Promise.resolve() };
  // Answers like the reference: what it was asked, and the body it read.
  const probe = new Hono().all("*", async (c) =>
    new Response(await c.req.arrayBuffer(), {
      headers: {
        "content-type": "application/octet-stream",
        "x-probe": `${c.req.method} ${new URL(c.req.url).pathname}`,
      },
    }));
  const app = orderApp({
    config,
    admission: new Admission(publisher, { maxPending: 100, ackTimeoutMs: 1000 }),
    view: new OrderView(),
    log: createLogger("test", "error", () => {}),
    mount: [["/probe", probe]],
  });
  return serveApp(app, config);
}

Deno.test("serveHttp1() never serves what the reference parser refuses, nor a request smuggled in a body", async (t) => {
  const reference = await startReferenceServer();
  const server = gateway();
  try {
    console.log(`reference parser: ${reference.name}`);
    const outcomes = await Promise.all(corpus.map(async (c) => ({
      ours: await exchange(server.addr.port, c.bytes),
      theirs: await exchange(reference.port, c.bytes),
    })));
    let differences = 0;
    for (const [i, c] of corpus.entries()) {
      const { ours, theirs } = outcomes[i]!;
      await t.step(c.name, () => {
        const both = `gateway: ${describe(ours)}; reference: ${describe(theirs)}`;
        const mine = served(ours);
        if (mine.length < served(theirs).length) differences++;
        // Never a hang: every case ends in a request asking to close, or in a refusal.
        assert.ok(ours.closed, `the gateway left the connection open: ${both}`);
        // The app answers nothing the reference refused: what it served (method, path and the body
        // it read) is the reference's first answers, or fewer when it refuses earlier.
        assert.deepEqual(
          mine,
          served(theirs).slice(0, mine.length),
          `the gateway served what the reference did not: ${both}`,
        );
        assert.ok(
          !ours.answers.some((a) => a.probe?.endsWith("/probe/smuggled")),
          `the gateway answered a request smuggled in a body: ${both}`,
        );
        // What the gateway does exactly: these answers, then its refusal, a problem, last.
        assert.deepEqual(
          ours.answers.map((a) => a.probe ?? a.status),
          [...c.answers, ...(c.refusal === undefined ? [] : [c.refusal])],
          both,
        );
        if (c.refusal !== undefined) assert.ok(ours.answers.at(-1)!.problem, both);
        // A baseline the reference does not serve would make the comparison say nothing.
        if (c.refusal === undefined) {
          assert.deepEqual(
            theirs.answers.map((a) => a.probe),
            c.answers,
            `the reference does not serve a baseline: ${both}`,
          );
        }
      });
    }
    console.log(
      `${corpus.length} cases; the gateway refused ${differences} that the reference served`,
    );
  } finally {
    await server.shutdown();
    await reference.stop();
  }
});
