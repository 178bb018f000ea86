/**
 * Sending mail: over SMTP with nodemailer when `SMTP_URL` is set, otherwise as `.eml` files
 * written to `OUTBOX_DIR` (RFC 5322 messages composed by lib/mail_message.ts: nodemailer's own
 * composer cost about 240 µs of CPU per mail, the largest cost of the pipeline under load).
 *
 * SMTP is protected as `SMTP_TLS` says (see `smtpSettings`): STARTTLS required, implicit TLS, or
 * none; the server's certificate is checked against `SMTP_CA` or the system's roots. When our own
 * settings are refused (login, TLS), the mailer says so once (an error log, the `smtp` problem of
 * the process's readiness, `despacho_smtp_configuration_errors_total` every time) and again when
 * mail goes through; the caller keeps the mail and tries it again.
 */
import nodemailer from "nodemailer";
import { type Config, type SmtpConfig, smtpSettings } from "../lib/config.ts";
import type { Logger } from "../lib/log.ts";
import { type MailConfigurationReason, mailFailure, withoutAddress } from "../lib/mail_delivery.ts";
import { composeMessage } from "../lib/mail_message.ts";
import { smtpConfigurationErrors } from "../lib/metrics.ts";
import { type Readiness, readiness } from "../lib/readiness.ts";

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

/** What to check when our SMTP settings are refused, by reason. */
const FIX: Record<MailConfigurationReason, string> = {
  smtp_login_refused: "the server refused our login: check SMTP_USER and SMTP_PASSWORD",
  smtp_tls_failed:
    "TLS with the server failed (certificate not trusted, or STARTTLS not offered): check SMTP_TLS and SMTP_CA_FILE",
};

/**
 * Creates the {@linkcode Mailer} the configuration asks for.
 *
 * @param config `SMTP_URL` and the other SMTP variables, `MAIL_FROM`, `OUTBOX_DIR`.
 * @param log Says once where mail goes, and when our SMTP settings are refused or work again.
 * @param health Where a refused setting is reported (`smtp`). @default this process's readiness
 */
export async function createMailer(
  config: SmtpConfig & Pick<Config, "MAIL_FROM" | "OUTBOX_DIR">,
  log: Logger,
  health: Readiness = readiness,
): Promise<Mailer> {
  const smtp = smtpSettings(config);
  if (smtp !== undefined) {
    const transport = nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.tls === "implicit",
      // Required: a server that does not offer STARTTLS, or whose certificate is not trusted, gets
      // nothing, not a mail (or a password) in clear.
      requireTLS: smtp.tls === "starttls",
      ignoreTLS: smtp.tls === "none",
      ...(smtp.login ? { auth: { user: smtp.login.user, pass: smtp.login.password } } : {}),
      pool: true,
      maxConnections: 4,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
      tls: { minVersion: "TLSv1.2", ...(smtp.ca !== undefined ? { ca: smtp.ca } : {}) },
    });
    const target = `${smtp.tls === "implicit" ? "smtps" : "smtp"}://${smtp.host}:${smtp.port}`;
    log.info("sending mail over SMTP", { target, tls: smtp.tls, login: smtp.login !== undefined });
    let refused: MailConfigurationReason | null = null;
    return {
      target,
      async send(mail) {
        try {
          await transport.sendMail({ from: config.MAIL_FROM, ...mail });
        } catch (error) {
          // The one place every mail's failure passes: servers quote the recipient in their
          // refusals, and what is thrown from here is logged, traced and published.
          withoutRecipient(error, mail.to);
          const failure = mailFailure(error);
          if (failure.kind === "configuration") {
            smtpConfigurationErrors.labels(failure.reason).inc();
            if (refused !== failure.reason) {
              refused = failure.reason;
              const problem = `Cannot send mail to ${target}: ${FIX[failure.reason]}`;
              health.set("smtp", problem);
              log.error(`${problem}; mail waits and is tried again`, {
                target,
                reason: failure.reason,
                error,
              });
            }
          }
          throw error;
        }
        if (refused !== null) {
          refused = null;
          health.set("smtp", null);
          log.info("SMTP settings accepted again: mail that waited goes out", { target });
        }
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

/**
 * Takes the recipient's address out of what a failed send threw (its message, and the server's
 * reply nodemailer keeps as `response`), keeping its codes for `mailFailure`.
 */
function withoutRecipient(error: unknown, to: string): void {
  if (typeof error !== "object" || error === null) return;
  const e = error as { message?: unknown; response?: unknown };
  if (typeof e.message === "string") e.message = withoutAddress(e.message, to);
  if (typeof e.response === "string") e.response = withoutAddress(e.response, to);
}
