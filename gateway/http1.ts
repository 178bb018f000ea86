/**
 * The gateway's HTTP/1.1 server: a small one on `Deno.listen`, because `Deno.serve` sets no limit
 * a hostile client cannot walk around (measured on Deno 2.9.6: a client sending a byte a second
 * still held its connection after 40 s, and more than 128 header fields get a bare 400 without a
 * body). Here every limit is ours and every refusal is a problem+json answer followed by closing
 * the connection:
 *
 * - more than `maxHeaders` header fields, or a head over {@linkcode MAX_HEAD_BYTES}: 431;
 * - a head not complete `headersTimeoutMs` after the request began (or the connection opened): 408;
 *   a new connection that sent no byte by then is closed without an answer;
 * - a body not complete `requestTimeoutMs` after the request began: 408;
 * - a declared or received body over `maxBodyBytes`: 413;
 * - a malformed request line, header, trailer, `Content-Length` or chunk, a CR or LF not part of a
 *   CRLF (refused as soon as it arrives), a repeated `Content-Length`, both `Content-Length` and
 *   `Transfer-Encoding`, a missing, repeated or malformed `Host`: 400; a method other than the
 *   standard ones (`get` included: methods are case-sensitive) or a transfer coding other than
 *   chunked: 501; an HTTP version other than 1.0 or 1.1: 505;
 * - a client that does not take its answer within `requestTimeoutMs` is disconnected.
 *
 * Requests are read whole (bodies are bounded) and passed to the handler as a `Request`; keep-alive
 * and pipelining are served in order, one request at a time per connection; a connection idle for
 * `keepAliveTimeoutMs` between requests is closed. Answers go out with their length in one write,
 * except Server-Sent Events (`text/event-stream`), which go out chunked as they are produced.
 *
 * It refuses at least what Node's llhttp (strict mode) refuses, checked over a corpus of ambiguous
 * and smuggling requests by `gateway/http1_differential_test.ts`.
 */
import {
  CHUNK_SIZE_LINE,
  CR,
  findBareLineEnd,
  findHeadEnd,
  HOST,
  httpDate,
  latin1Into,
  LF,
  parseFieldLine,
  parseRequestLine,
  problemResponse,
  REASONS,
  Refusal,
  requestUrl,
  writeAll,
} from "./http1_wire.ts";

/** Largest request head (request line and header fields), in bytes. */
export const MAX_HEAD_BYTES = 16 * 1024;

/** How long a refused request's remaining bytes are read and dropped before closing. */
const LINGER_MS = 500;

/** Options of {@linkcode serveHttp1}. */
export interface Http1Options {
  hostname: string;
  /** `0` picks a free port. */
  port: number;
  /** Header fields of one request, at most. @default 100 */
  maxHeaders?: number;
  /** Longest wait for a complete request head, in milliseconds. @default 10000 */
  headersTimeoutMs?: number;
  /** Longest wait for a complete request, head and body, in milliseconds. @default 30000 */
  requestTimeoutMs?: number;
  /** Longest idle time of a kept-alive connection between requests. @default 5000 */
  keepAliveTimeoutMs?: number;
  /** Largest request body, in bytes. @default 1048576 */
  maxBodyBytes?: number;
  /**
   * Told of every request the server answers itself, before the handler (400, 408, 413, 431…),
   * with its status: such requests never reach the app, so its metrics would not see them.
   */
  onRefused?: (status: number) => void;
  /**
   * Serve HTTPS with this PEM certificate chain and key (`Deno.listenTls`); the parser is the
   * same, behind the TLS layer. @default plain HTTP
   */
  tls?: { cert: string; key: string };
  /** Header fields added to every answer, refusals included (`Strict-Transport-Security`). */
  headers?: readonly (readonly [string, string])[];
}

/** A running {@linkcode serveHttp1} server. */
export interface Http1Server {
  /** Where it listens. */
  addr: Deno.NetAddr;
  /**
   * Stops accepting, closes idle connections, lets requests being handled finish (their
   * connections close after the answer), ends streamed answers, and resolves once every connection
   * is closed; those still open after `forceAfterMs` (a client not reading its answer) are closed.
   *
   * @param forceAfterMs Longest wait. @default 5000
   */
  shutdown(forceAfterMs?: number): Promise<void>;
}

/**
 * What a handler learns of the connection, as `Deno.serve` tells it (a Hono app reads it as its
 * env: `c.env.remoteAddr`).
 */
export interface Http1Info {
  /** The client's end of the connection. */
  remoteAddr: Deno.NetAddr;
}

type Handler = (request: Request, info: Http1Info) => Response | Promise<Response>;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/**
 * Serves `handler` over HTTP/1.1 with the limits of {@linkcode Http1Options}.
 *
 * @param handler Answers one request (a Hono app's `fetch`).
 * @param options Where to listen, and the limits.
 * @returns The running server.
 *
 * @example
 * ```ts ignore
 * import { serveHttp1 } from "./http1.ts";
 * const server = serveHttp1(() => new Response("ok"), { hostname: "127.0.0.1", port: 0 });
 * await server.shutdown();
 * ```
 */
export function serveHttp1(handler: Handler, options: Http1Options): Http1Server {
  const limits = {
    maxHeaders: options.maxHeaders ?? 100,
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 5_000,
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
    onRefused: options.onRefused ?? (() => {}),
    headers: options.headers ?? [],
    scheme: options.tls === undefined ? "http" as const : "https" as const,
  };
  const listener: Deno.Listener<Deno.Conn, Deno.NetAddr> = options.tls === undefined
    ? Deno.listen({ hostname: options.hostname, port: options.port })
    : Deno.listenTls({ hostname: options.hostname, port: options.port, ...options.tls });
  const connections = new Set<Connection>();
  let closing = false;
  // One sweep finds every connection past its deadline: no timer per request.
  const sweepMs = Math.min(
    1000,
    Math.max(
      10,
      Math.floor(
        Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs, limits.keepAliveTimeoutMs) / 10,
      ),
    ),
  );
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const c of connections) c.check(now);
  }, sweepMs);

  const accepting = (async () => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        if (closing) return; // the listener was closed
        // One client's failure is not the listener's; a pause keeps a lasting one (no file
        // descriptors left) from spinning.
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      try {
        if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      } catch { /* closed already */ }
      const c = new Connection(conn, handler, limits, () => closing);
      connections.add(c);
      void c.serve().finally(() => connections.delete(c));
    }
  })();

  return {
    addr: listener.addr as Deno.NetAddr,
    async shutdown(forceAfterMs = 5_000) {
      closing = true;
      try {
        listener.close();
      } catch { /* closed already */ }
      await accepting;
      for (const c of connections) c.shutdown();
      const force = setTimeout(() => {
        for (const c of connections) c.close();
      }, forceAfterMs);
      await Promise.all([...connections].map((c) => c.done));
      clearTimeout(force);
      clearInterval(sweeper);
    },
  };
}

type Limits = Required<Omit<Http1Options, "hostname" | "port" | "tls">> & {
  /** `https` behind TLS: what the request's URL says. */
  scheme: "http" | "https";
};

type Phase = "idle" | "head" | "body" | "handling" | "writing";

/** One client connection: reads requests in order and writes their answers. */
class Connection {
  #conn: Deno.Conn;
  #handler: Handler;
  #limits: Limits;
  #closing: () => boolean;
  #buf = new Uint8Array(4 * 1024);
  #start = 0;
  #end = 0;
  #phase: Phase = "head";
  #closed = false;
  #timedOut = false;
  #stream: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #done!: () => void;
  /** Resolves when the connection is closed. */
  readonly done = new Promise<void>((r) => this.#done = r);
  /** When the current phase times out (`performance.now()` scale). */
  deadline: number;
  #requestDeadline = 0;
  /** When a write in progress is given up: a client that does not read its answer. */
  #writeDeadline = Infinity;

  constructor(
    conn: Deno.Conn,
    handler: Handler,
    limits: Limits,
    closing: () => boolean,
  ) {
    this.#conn = conn;
    this.#handler = handler;
    this.#limits = limits;
    this.#closing = closing;
    this.deadline = performance.now() + limits.headersTimeoutMs;
    this.#requestDeadline = performance.now() + limits.requestTimeoutMs;
  }

  /** Called by the sweeper: closes a stalled write, answers a late request. */
  check(now: number): void {
    if (now > this.#writeDeadline) this.#close();
    else if (now > this.deadline) this.expire();
  }

  /** Called once `deadline` passed. */
  expire(): void {
    if (this.#closed) return;
    // A new connection that sent nothing is closed without an answer, as an idle one is: a 408
    // nobody asked for can be read by an HTTP client as the answer to the request it writes at
    // that moment (a pooled connection opened and left unused; the soak saw two such 408s).
    if (this.#phase === "head" && this.#end === this.#start) {
      this.#close();
      return;
    }
    if (this.#phase === "head" || this.#phase === "body") {
      const what = this.#phase === "head" ? "request head" : "request body";
      const ms = this.#phase === "head"
        ? this.#limits.headersTimeoutMs
        : this.#limits.requestTimeoutMs;
      // The reading loop may still be waiting on the client: it stops at its next read, and the
      // connection closes when the linger after this answer ends.
      this.#timedOut = true;
      this.#phase = "writing";
      this.deadline = Infinity;
      void this.#refuse(
        new Refusal(
          408,
          "Request timeout",
          `Cannot read request: ${what} not complete within ${ms} ms`,
        ),
        false,
      );
    } else if (this.#phase === "idle") {
      this.#close();
    } else {
      this.deadline = Infinity;
    }
  }

  /** Closes the connection if idle; otherwise it closes after the answer being prepared. */
  shutdown(): void {
    if (this.#phase === "idle" || (this.#phase === "head" && this.#end === this.#start)) {
      this.#close();
    }
    // A streamed answer (Server-Sent Events) ends now; the client reconnects elsewhere.
    void this.#stream?.cancel().catch(() => {});
  }

  /** Closes the connection now, whatever it is doing. */
  close(): void {
    this.#close();
  }

  async serve(): Promise<void> {
    try {
      while (!this.#closed) {
        const keepAlive = await this.#one();
        if (!keepAlive || this.#closing()) break;
      }
    } catch {
      // The client went away, or the connection was closed by a timeout or a shutdown.
    } finally {
      this.#close();
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* closed already */ }
    this.#done();
  }

  /** Serves one request; resolves whether the connection stays open. */
  async #one(): Promise<boolean> {
    let request: Request;
    let keepAlive: boolean;
    let head: boolean;
    try {
      const parsed = await this.#readRequest();
      if (parsed === null) return false;
      ({ request, keepAlive } = parsed);
      head = request.method === "HEAD";
    } catch (error) {
      if (!(error instanceof Refusal) || this.#closed) throw error;
      this.#phase = "writing";
      await this.#refuse(error);
      return false;
    }
    this.#phase = "handling";
    this.deadline = Infinity;
    let response: Response;
    try {
      response = await this.#handler(request, {
        remoteAddr: this.#conn.remoteAddr as Deno.NetAddr,
      });
    } catch {
      response = problemResponse(
        new Refusal(500, "Internal error", "Something went wrong on our side"),
      );
    }
    this.#phase = "writing";
    if (response.headers.get("connection")?.toLowerCase() === "close") keepAlive = false;
    if (this.#closing()) keepAlive = false;
    await this.#write(response, keepAlive, head);
    if (!keepAlive) return false;
    // A buffer grown for a large chunked body goes back to its small size between requests.
    if (this.#buf.length > 16 * 1024 && this.#end === this.#start) {
      this.#buf = new Uint8Array(4 * 1024);
      this.#start = this.#end = 0;
    }
    // Next request: idle until its first byte, then its head has headersTimeoutMs.
    const now = performance.now();
    if (this.#end > this.#start) {
      this.#phase = "head";
      this.deadline = now + this.#limits.headersTimeoutMs;
    } else {
      this.#phase = "idle";
      this.deadline = now + this.#limits.keepAliveTimeoutMs;
    }
    this.#requestDeadline = now + this.#limits.requestTimeoutMs;
    return true;
  }

  /** Reads more bytes into the buffer; false at end of stream. */
  async #fill(maxBuffered: number): Promise<boolean> {
    if (this.#end === this.#buf.length) {
      const used = this.#end - this.#start;
      if (this.#start > 0 && used < this.#buf.length / 2) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.min(this.#buf.length * 2, maxBuffered + 4096));
        if (grown.length <= this.#buf.length) return true; // full: the caller checks its limit
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = used;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    await this.#stopIfTimedOut();
    if (n === null) return false;
    if (this.#phase === "idle") {
      this.#phase = "head";
      this.deadline = performance.now() + this.#limits.headersTimeoutMs;
      this.#requestDeadline = performance.now() + this.#limits.requestTimeoutMs;
    }
    this.#end += n;
    return true;
  }

  /** Reads one request; null when the client closed the connection between requests. */
  async #readRequest(): Promise<{ request: Request; keepAlive: boolean } | null> {
    const text = await this.#readHead();
    if (text === null) return null;
    const head = parseHead(text, this.#limits.maxHeaders);
    const keepAlive = head.version === "HTTP/1.1" &&
      !/(^|,)\s*close\s*(,|$)/.test(head.connection);
    if (head.host !== undefined && !HOST.test(head.host)) {
      throw new Refusal(400, "Bad request", "Cannot read request: Host is not a host[:port]");
    }
    const url = requestUrl(head.target, head.host ?? "localhost", this.#limits.scheme);
    const body = await this.#readBody(head);
    this.deadline = Infinity;
    const init: RequestInit = { method: head.method, headers: head.headers };
    if (body !== null && head.method !== "GET" && head.method !== "HEAD") init.body = body;
    try {
      return { request: new Request(url, init), keepAlive };
    } catch {
      throw new Refusal(
        400,
        "Bad request",
        "Cannot read request: the target, the Host or a header field is not valid",
      );
    }
  }

  /**
   * Reads the head up to the empty line and takes it off the buffer, without its final CRLF CRLF;
   * null when the client closed the connection before a byte of it.
   */
  async #readHead(): Promise<string | null> {
    // A bare CR or LF is refused as soon as it arrives: a head that uses them may never hold a
    // CRLF CRLF, and the client would wait for an answer until the head timeout.
    let headEnd = -1;
    let scanned = this.#start;
    let checked = this.#start;
    for (;;) {
      headEnd = findHeadEnd(this.#buf, scanned, this.#end);
      const bare = findBareLineEnd(
        this.#buf,
        this.#start,
        checked,
        headEnd === -1 ? this.#end : headEnd,
      );
      if (bare !== -1) {
        throw new Refusal(
          400,
          "Bad request",
          `Cannot read request: a ${
            this.#buf[bare] === CR ? "CR" : "LF"
          } not part of a CRLF at byte ${bare - this.#start} of the head`,
        );
      }
      if (headEnd !== -1) break;
      checked = Math.max(this.#start, this.#end - 1);
      scanned = Math.max(this.#start, this.#end - 3);
      if (this.#end - this.#start > MAX_HEAD_BYTES) throw headTooLarge();
      const before = this.#start;
      if (!await this.#fill(MAX_HEAD_BYTES)) {
        if (this.#end === this.#start) return null;
        throw new Refusal(400, "Bad request", "Cannot read request: connection closed mid-head");
      }
      scanned = Math.max(this.#start, scanned - before + this.#start);
      checked = Math.max(this.#start, checked - before + this.#start);
    }
    if (headEnd - this.#start > MAX_HEAD_BYTES) throw headTooLarge();
    const text = latin1.decode(this.#buf.subarray(this.#start, headEnd - 4));
    this.#start = headEnd;
    return text;
  }

  /** Reads the body the head frames: chunked, Content-Length, or none (null). */
  async #readBody(head: RequestHead): Promise<Uint8Array<ArrayBuffer> | null> {
    const { transferEncoding, contentLengths, expect } = head;
    if (transferEncoding !== undefined) {
      if (contentLengths.length > 0 || head.version !== "HTTP/1.1") {
        throw new Refusal(
          400,
          "Bad request",
          "Cannot read request: Transfer-Encoding with Content-Length or on HTTP/1.0",
        );
      }
      // Only space and tab around it: JavaScript's trim() would also take away a vertical tab or
      // a no-break space, which another parser keeps (a TE.TE smuggling pair).
      if (transferEncoding.toLowerCase() !== "chunked") {
        throw new Refusal(
          501,
          "Not implemented",
          `Cannot read request: transfer coding "${transferEncoding}" is not supported; use chunked`,
        );
      }
      await this.#continue(expect);
      return await this.#readChunked();
    }
    if (contentLengths.length > 0) {
      // One field with one number: RFC 9110 §8.6 lets a server take "5, 5" or two equal fields as
      // 5, but a parser in front may not, and llhttp refuses both.
      const [value] = contentLengths;
      if (contentLengths.length > 1 || !/^\d{1,15}$/.test(value!)) {
        throw new Refusal(
          400,
          "Bad request",
          `Cannot read request: Content-Length must be one field with one whole number: current value is "${
            contentLengths.join(", ").slice(0, 40)
          }"`,
        );
      }
      const length = Number(value);
      if (length > this.#limits.maxBodyBytes) {
        throw new Refusal(
          413,
          "Body too large",
          `Cannot read request: body of ${length} bytes exceeds ${this.#limits.maxBodyBytes} bytes`,
        );
      }
      if (length === 0) return null;
      await this.#continue(expect);
      return await this.#readLength(length);
    }
    if (expect !== undefined && expect !== "100-continue") {
      throw new Refusal(417, "Expectation failed", `Cannot meet expectation "${expect}"`);
    }
    return null;
  }

  async #continue(expect: string | undefined): Promise<void> {
    if (expect === undefined) return;
    if (expect !== "100-continue") {
      throw new Refusal(417, "Expectation failed", `Cannot meet expectation "${expect}"`);
    }
    await this.#send(encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
  }

  /** After a timeout's answer, the reading loop waits for the close and goes no further. */
  async #stopIfTimedOut(): Promise<void> {
    if (!this.#timedOut) return;
    await this.done;
    throw new Error("Connection closed after a timeout");
  }

  #enterBody(): void {
    this.#phase = "body";
    this.deadline = this.#requestDeadline;
  }

  async #readLength(length: number): Promise<Uint8Array<ArrayBuffer>> {
    this.#enterBody();
    const body = new Uint8Array(length);
    const buffered = Math.min(length, this.#end - this.#start);
    body.set(this.#buf.subarray(this.#start, this.#start + buffered));
    this.#start += buffered;
    let got = buffered;
    while (got < length) {
      const n = await this.#conn.read(body.subarray(got));
      await this.#stopIfTimedOut();
      if (n === null) {
        throw new Refusal(400, "Bad request", "Cannot read request: connection closed mid-body");
      }
      got += n;
    }
    return body;
  }

  async #readChunked(): Promise<Uint8Array<ArrayBuffer>> {
    this.#enterBody();
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const sizeLine = CHUNK_SIZE_LINE.exec(await this.#readLine(1024));
      if (sizeLine === null) {
        throw new Refusal(400, "Bad request", "Cannot read request: malformed chunk size");
      }
      const size = parseInt(sizeLine[1]!, 16);
      if (size === 0) break;
      total += size;
      if (total > this.#limits.maxBodyBytes) {
        throw new Refusal(
          413,
          "Body too large",
          `Cannot read request: body exceeds ${this.#limits.maxBodyBytes} bytes`,
        );
      }
      while (this.#end - this.#start < size + 2) {
        if (!await this.#fill(size + 2)) {
          throw new Refusal(400, "Bad request", "Cannot read request: connection closed mid-body");
        }
      }
      parts.push(this.#buf.slice(this.#start, this.#start + size));
      if (this.#buf[this.#start + size] !== CR || this.#buf[this.#start + size + 1] !== LF) {
        throw new Refusal(400, "Bad request", "Cannot read request: chunk not followed by CRLF");
      }
      this.#start += size + 2;
    }
    // Trailer fields are read, checked as header fields (a request line there is refused) and
    // dropped, counted against the header limits.
    for (let fields = 0;; fields++) {
      const line = await this.#readLine(MAX_HEAD_BYTES);
      if (line === "") break;
      parseFieldLine(line, `trailer line ${fields + 1}`);
      if (fields >= this.#limits.maxHeaders) {
        throw new Refusal(
          431,
          "Request header fields too large",
          `Cannot read request: more than ${this.#limits.maxHeaders} trailer fields`,
        );
      }
    }
    const body = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      body.set(p, at);
      at += p.length;
    }
    return body;
  }

  async #readLine(max: number): Promise<string> {
    for (let scanned = this.#start;;) {
      const lf = this.#buf.subarray(scanned, this.#end).indexOf(LF);
      if (lf !== -1) {
        const end = scanned + lf;
        if (end === this.#start || this.#buf[end - 1] !== CR) {
          throw new Refusal(400, "Bad request", "Cannot read request: line not ended by CRLF");
        }
        const line = latin1.decode(this.#buf.subarray(this.#start, end - 1));
        this.#start = end + 1;
        return line;
      }
      if (this.#end - this.#start > max) {
        throw new Refusal(400, "Bad request", `Cannot read request: line longer than ${max} bytes`);
      }
      const offset = this.#end - this.#start;
      if (!await this.#fill(max)) {
        throw new Refusal(400, "Bad request", "Cannot read request: connection closed mid-body");
      }
      scanned = this.#start + offset;
    }
  }

  /**
   * Answers a refusal, then closes once the client had a moment to read it: what the client is
   * still sending is read and dropped meanwhile, since closing on unread bytes would reset the
   * connection and the client could lose the answer.
   *
   * @param drop Whether this call reads and drops (false when the reading loop is still waiting
   * on the client itself, after a timeout).
   */
  async #refuse(refusal: Refusal, drop = true): Promise<void> {
    try {
      this.#limits.onRefused(refusal.status);
    } catch {
      // An observer's failure is not the client's problem.
    }
    try {
      await this.#write(problemResponse(refusal), false, false);
      await this.#conn.closeWrite();
      this.#phase = "idle";
      this.deadline = performance.now() + LINGER_MS;
      if (!drop) return;
      const sink = new Uint8Array(16 * 1024);
      for (let dropped = 0; dropped < 1024 * 1024;) {
        const n = await this.#conn.read(sink);
        if (n === null) break;
        dropped += n;
      }
    } catch {
      // The client is gone, or the linger ended.
    }
    if (drop) this.#close();
  }

  async #write(response: Response, keepAlive: boolean, head: boolean): Promise<void> {
    const status = response.status;
    let text = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\ndate: ${httpDate()}\r\n`;
    for (const [name, value] of this.#limits.headers) text += `${name}: ${value}\r\n`;
    let streamed = false;
    response.headers.forEach((value, name) => {
      if (name === "connection" || name === "content-length" || name === "transfer-encoding") {
        return;
      }
      if (name === "content-type" && value.startsWith("text/event-stream")) streamed = true;
      text += `${name}: ${value}\r\n`;
    });
    if (!keepAlive) text += "connection: close\r\n";
    const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!streamed) {
      // Read whole, without touching `response.body` (which would turn a string into a stream),
      // and written with its length in one write; a HEAD answer has the length and no body.
      const body = noBody ? new Uint8Array(0) : await response.bytes();
      if (!noBody) text += `content-length: ${body.length}\r\n`;
      text += "\r\n";
      const sent = head ? 0 : body.length;
      const out = new Uint8Array(text.length + sent);
      latin1Into(text, out);
      if (sent > 0) out.set(body, text.length);
      await this.#send(out);
      return;
    }
    if (response.body === null || noBody || head) {
      void response.body?.cancel().catch(() => {});
      await this.#send(encoder.encode(`${text}\r\n`));
      return;
    }
    // Server-Sent Events go out chunked, each piece as it is produced.
    const reader = response.body.getReader();
    this.#stream = reader;
    try {
      await this.#send(encoder.encode(`${text}transfer-encoding: chunked\r\n\r\n`));
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await this.#writeChunk(value);
      }
      await this.#send(encoder.encode("0\r\n\r\n"));
    } catch (error) {
      void reader.cancel().catch(() => {});
      throw error;
    } finally {
      this.#stream = undefined;
    }
  }

  /** Writes all of `bytes`, giving up (closing) when the client reads none of it for requestTimeoutMs. */
  async #send(bytes: Uint8Array): Promise<void> {
    this.#writeDeadline = performance.now() + this.#limits.requestTimeoutMs;
    try {
      await writeAll(this.#conn, bytes);
    } finally {
      this.#writeDeadline = Infinity;
    }
  }

  async #writeChunk(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    await this.#send(encoder.encode(`${chunk.length.toString(16)}\r\n`));
    await this.#send(chunk);
    await this.#send(encoder.encode("\r\n"));
  }
}

/** A request head as read: its request line, its fields, and the fields that frame the request. */
interface RequestHead {
  method: string;
  target: string;
  version: string;
  /** Every field in order, validated by the Request constructor once (not by a Headers too). */
  headers: [string, string][];
  host: string | undefined;
  contentLengths: string[];
  /** Every Transfer-Encoding field, joined with commas. */
  transferEncoding: string | undefined;
  /** Every Connection field, lower case, each after a comma. */
  connection: string;
  /** The Expect field, lower case. */
  expect: string | undefined;
}

/**
 * Parses a head (without its final CRLF CRLF): the request line, at most `maxHeaders` field lines,
 * and for HTTP/1.1 exactly one Host.
 *
 * @param text The head, decoded as latin1.
 * @param maxHeaders The most field lines accepted.
 * @returns The head's parts.
 * @throws {Refusal} 400 for a malformed line or a missing or repeated Host, 431 for too many fields.
 */
function parseHead(text: string, maxHeaders: number): RequestHead {
  const lines = text.split("\r\n");
  const [method, target, version] = parseRequestLine(lines[0]!);
  if (lines.length - 1 > maxHeaders) {
    throw new Refusal(
      431,
      "Request header fields too large",
      `Cannot read request: ${
        lines.length - 1
      } header fields, more than the limit of ${maxHeaders}`,
    );
  }
  const head: RequestHead = {
    method,
    target,
    version,
    headers: [],
    host: undefined,
    contentLengths: [],
    transferEncoding: undefined,
    connection: "",
    expect: undefined,
  };
  let hosts = 0;
  for (let i = 1; i < lines.length; i++) {
    const [name, value] = parseFieldLine(lines[i]!, `header line ${i}`);
    head.headers.push([name, value]);
    switch (name.toLowerCase()) {
      case "host":
        head.host = value;
        hosts++;
        break;
      case "content-length":
        head.contentLengths.push(value);
        break;
      case "transfer-encoding":
        head.transferEncoding = head.transferEncoding === undefined
          ? value
          : `${head.transferEncoding},${value}`;
        break;
      case "connection":
        head.connection += `,${value.toLowerCase()}`;
        break;
      case "expect":
        head.expect = value.toLowerCase();
        break;
    }
  }
  if (version === "HTTP/1.1" && hosts !== 1) {
    throw new Refusal(
      400,
      "Bad request",
      `Cannot read request: expected one Host header, got ${hosts}`,
    );
  }
  return head;
}

function headTooLarge(): Refusal {
  return new Refusal(
    431,
    "Request header fields too large",
    `Cannot read request: head exceeds ${MAX_HEAD_BYTES} bytes`,
  );
}
