/**
 * A real SMTP server for tests (npm `smtp-server`) on 127.0.0.1, keeping every message it accepts.
 * Plain by default; with STARTTLS or implicit TLS (a certificate made for the run with `openssl`)
 * and a required login on demand.
 */
import { SMTPServer } from "smtp-server";

/** One accepted message. */
export interface ReceivedMail {
  from: string;
  to: string[];
  messageId: string | null;
  subject: string | null;
  raw: string;
  /** Whether the session was encrypted (STARTTLS or implicit TLS). */
  secure: boolean;
}

/** One AUTH command the server answered (the password is not kept). */
export interface LoginAttempt {
  user: string;
  accepted: boolean;
  /** Whether the session was encrypted when the client sent its credentials. */
  secure: boolean;
}

/** How {@linkcode startSmtp} protects its sessions. */
export interface SmtpServerOptions {
  /**
   * `starttls`: plain, STARTTLS offered; `implicit`: TLS from the first byte. Either serves a
   * certificate for `127.0.0.1` and `localhost` signed by a CA made for the run
   * ({@linkcode TestSmtp.caFile}). @default plain, no STARTTLS
   */
  tls?: "starttls" | "implicit";
  /** The only login accepted; set, a login is required before any mail (and only over TLS). */
  login?: { user: string; password: string };
}

/** A certificate authority and a server certificate made for one run, in a temporary folder. */
export interface TestCertificates {
  /** The CA's certificate (PEM), what a client must trust. */
  caFile: string;
  /** The server's certificate (PEM) and key, for `127.0.0.1` and `localhost`. */
  cert: string;
  key: string;
  /** Removes the folder. */
  remove(): Promise<void>;
}

/**
 * Makes a CA and a server certificate for `127.0.0.1` and `localhost` with `openssl`, valid one day.
 *
 * @throws {Error} When `openssl` fails, with its output.
 */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "despacho-smtp-tls-" });
  const openssl = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (!out.success) {
      throw new Error(
        `Cannot make test certificates: openssl ${args[0]} failed: ${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
  };
  const key = ["-newkey", "rsa:2048", "-nodes", "-days", "1"];
  await openssl(
    "req",
    "-x509",
    ...key,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-subj",
    "/CN=Despacho test CA",
  );
  await openssl(
    "req",
    ...key,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "server.ext",
    "-out",
    "server.pem",
  );
  return {
    caFile: `${dir}/ca.pem`,
    cert: await Deno.readTextFile(`${dir}/server.pem`),
    key: await Deno.readTextFile(`${dir}/server.key`),
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A running test SMTP server. */
export interface TestSmtp {
  /** `smtp://127.0.0.1:port`, `smtps://` with implicit TLS; no login in it. */
  url: string;
  /** The CA file a client must trust, when the server speaks TLS. */
  caFile?: string;
  mails: ReceivedMail[];
  /** Every AUTH answered, in order. */
  logins: LoginAttempt[];
  /** Changes the login accepted from now on (an administrator resetting the account); only for a server started with one. */
  setLogin(login: { user: string; password: string }): void;
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

/**
 * Starts the server on a free port.
 *
 * @param options TLS and login. @default plain, no login
 */
export async function startSmtp(options: SmtpServerOptions = {}): Promise<TestSmtp> {
  // Long on purpose: its handlers share the test's controls (outage, refusals, logins).
  const certificates = options.tls === undefined ? null : await makeTestCertificates();
  const logins: LoginAttempt[] = [];
  const mails: ReceivedMail[] = [];
  let failures = 0;
  let outage = { until: 0, code: 451 };
  let blocked: { pattern: RegExp; code: number } | null = null;
  let refused = 0;
  const refuse = (
    code: number,
    callback: (error?: Error | null) => void,
    text = code >= 500 ? "Requested action not taken" : "Try again later",
  ) => {
    refused++;
    const error = Object.assign(new Error(text), { responseCode: code });
    callback(error);
  };
  let login = options.login;
  const server = new SMTPServer({
    authOptional: login === undefined,
    disabledCommands: [
      ...(options.tls === "starttls" ? [] : ["STARTTLS"]),
      ...(login === undefined ? ["AUTH"] : []),
    ],
    ...(certificates === null
      ? {}
      : { secure: options.tls === "implicit", key: certificates.key, cert: certificates.cert }),
    logger: false,
    onAuth(auth, session, callback) {
      const accepted = login !== undefined && auth.username === login.user &&
        auth.password === login.password;
      logins.push({ user: auth.username ?? "", accepted, secure: session.secure });
      if (accepted) return callback(null, { user: auth.username });
      callback(
        Object.assign(new Error("Authentication credentials invalid"), { responseCode: 535 }),
      );
    },
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
        const nobody = blocked === null ? undefined : to.find((a) => blocked!.pattern.test(a));
        if (nobody !== undefined) {
          // As real servers word it, the address quoted.
          return refuse(blocked!.code, callback, `<${nobody}>: Recipient address rejected`);
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
          secure: session.secure,
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
    url: `${options.tls === "implicit" ? "smtps" : "smtp"}://127.0.0.1:${port}`,
    ...(certificates === null ? {} : { caFile: certificates.caFile }),
    mails,
    logins,
    setLogin: (next) => (login = next),
    failNext: (count) => (failures = count),
    refuseFor: (ms, code = 451) => (outage = { until: Date.now() + ms, code }),
    refuseRecipients: (pattern, code = 550) => (blocked = { pattern, code }),
    refused: () => refused,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await certificates?.remove();
    },
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
