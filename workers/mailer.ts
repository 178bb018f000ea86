/**
 * Sending mail: over SMTP with nodemailer when `SMTP_URL` is set, otherwise as `.eml` files
 * written to `OUTBOX_DIR` (RFC 5322 messages composed by lib/mail_message.ts: nodemailer's own
 * composer cost about 240 µs of CPU per mail, the largest cost of the pipeline under load).
 */
import nodemailer from "nodemailer";
import type { Config } from "../lib/config.ts";
import type { Logger } from "../lib/log.ts";
import { composeMessage } from "../lib/mail_message.ts";

/** A message to send. */
export interface Mail {
  to: string;
  subject: string;
  text: string;
  messageId: string;
}

/** Sends mail; rejects when the transport refuses or times out. */
export interface Mailer {
  send(mail: Mail): Promise<void>;
  /** Where mail goes, for logs: `smtp://host:port` or the outbox folder. */
  readonly target: string;
  close(): void;
}

/**
 * Creates the {@linkcode Mailer} the configuration asks for.
 *
 * @param config `SMTP_URL`, `MAIL_FROM`, `OUTBOX_DIR`.
 * @param log Says once where mail goes.
 */
export async function createMailer(
  config: Pick<Config, "SMTP_URL" | "MAIL_FROM" | "OUTBOX_DIR">,
  log: Logger,
): Promise<Mailer> {
  if (config.SMTP_URL !== undefined) {
    const url = new URL(config.SMTP_URL);
    const transport = nodemailer.createTransport({
      host: url.hostname,
      port: Number(url.port || (url.protocol === "smtps:" ? 465 : 25)),
      secure: url.protocol === "smtps:",
      auth: url.username
        ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
        : undefined,
      pool: true,
      maxConnections: 4,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
      // Local relays (Mailpit, test servers) offer STARTTLS with self-signed certificates.
      tls: { rejectUnauthorized: false },
    });
    const target = `smtp://${url.hostname}:${url.port || 25}`;
    log.info("sending mail over SMTP", { target });
    return {
      target,
      async send(mail) {
        await transport.sendMail({ from: config.MAIL_FROM, ...mail });
      },
      close: () => transport.close(),
    };
  }
  const dir = config.OUTBOX_DIR;
  await Deno.mkdir(dir, { recursive: true });
  log.info(`no SMTP_URL: writing mail to ${dir}`, { dir });
  // One file at a time: creating files in one folder is serialized by the file system anyway, and
  // with several creations in flight Deno's calls block the event loop waiting for the folder (on
  // an ext4 without journal that has just deleted many files, 0.5 ms each).
  let last: Promise<void> = Promise.resolve();
  return {
    target: dir,
    send(mail) {
      const name = mail.messageId.replace(/^<|>$/g, "").replace(/[^A-Za-z0-9.@_-]/g, "_");
      const text = composeMessage({ from: config.MAIL_FROM, ...mail }, new Date());
      const write = last.then(() => Deno.writeTextFile(`${dir}/${name}.eml`, text));
      last = write.catch(() => {});
      return write;
    },
    close: () => {},
  };
}
