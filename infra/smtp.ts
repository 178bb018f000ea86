/**
 * A real SMTP server for tests (npm `smtp-server`) on 127.0.0.1, keeping every message it accepts.
 */
import { SMTPServer } from "smtp-server";

/** One accepted message. */
export interface ReceivedMail {
  from: string;
  to: string[];
  messageId: string | null;
  subject: string | null;
  raw: string;
}

/** A running test SMTP server. */
export interface TestSmtp {
  url: string;
  mails: ReceivedMail[];
  /** Makes the next `count` deliveries fail with a temporary error (451). */
  failNext(count: number): void;
  /** Answers every delivery with `code` (451: an outage) until `ms` from now. */
  refuseFor(ms: number, code?: number): void;
  /** Answers deliveries to recipients matching `pattern` with `code` (550: no such mailbox). */
  refuseRecipients(pattern: RegExp, code?: number): void;
  /** Deliveries refused so far. */
  refused(): number;
  close(): Promise<void>;
}

/** Starts the server on a free port. */
export async function startSmtp(): Promise<TestSmtp> {
  const mails: ReceivedMail[] = [];
  let failures = 0;
  let outage = { until: 0, code: 451 };
  let blocked: { pattern: RegExp; code: number } | null = null;
  let refused = 0;
  const refuse = (code: number, callback: (error?: Error | null) => void) => {
    refused++;
    const error = Object.assign(
      new Error(code >= 500 ? "Requested action not taken" : "Try again later"),
      { responseCode: code },
    );
    callback(error);
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("end", () => {
        if (failures > 0) {
          failures--;
          return refuse(451, callback);
        }
        // A mailbox that does not exist is refused for good, outage or not.
        const to = session.envelope.rcptTo.map((r) => r.address);
        if (blocked !== null && to.some((a) => blocked!.pattern.test(a))) {
          return refuse(blocked.code, callback);
        }
        if (Date.now() < outage.until) return refuse(outage.code, callback);
        const raw = new TextDecoder().decode(concat(chunks));
        // Unfold folded header lines (RFC 5322 section 2.2.3) before reading a header.
        const head = raw.split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]+/g, " ");
        const header = (name: string) =>
          head.match(new RegExp(`^${name}: *(.*)$`, "mi"))?.[1]?.trim() ?? null;
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
          messageId: header("Message-ID"),
          subject: header("Subject"),
          raw,
        });
        callback();
      });
    },
  });
  // A client killed mid-session resets its connection: not an error of the server.
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as { port: number };
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    failNext: (count) => (failures = count),
    refuseFor: (ms, code = 451) => (outage = { until: Date.now() + ms, code }),
    refuseRecipients: (pattern, code = 550) => (blocked = { pattern, code }),
    refused: () => refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
