/**
 * A plain-text mail as an RFC 5322 message (the `.eml` files of the outbox): the headers
 * nodemailer writes for the same mail, in its order, non-ASCII header text as RFC 2047 encoded
 * words, the body in UTF-8 as quoted-printable (RFC 2045) with lines of at most 76 characters.
 *
 * Why not nodemailer's own composer: it builds each message through a chain of streams, about
 * 240 µs of CPU per mail on the bench machine, which at four mails per order was the largest cost
 * of the whole pipeline; this is a few µs. Mail over SMTP is still composed and sent by nodemailer.
 */

/** What a message says. */
export interface MailMessage {
  /** `Name <address>` or a bare address. */
  from: string;
  /** A bare address. */
  to: string;
  subject: string;
  text: string;
  /** `<id@domain>`. */
  messageId: string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, "0"));
const encoder = new TextEncoder();
/** Printable ASCII: header text made only of these goes as it is. */
const PLAIN_HEADER = /^[\x20-\x7e]*$/;
/** Characters an encoded word (Q encoding, in a phrase) may carry as they are. */
const Q_SAFE = /[A-Za-z0-9!*+\-/]/;
/** Characters an address's display name may hold without quoting (RFC 5322 atext and space). */
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;

/**
 * Composes the message.
 *
 * @param mail Sender, recipient, subject, text and Message-ID.
 * @param date The `Date` header.
 * @returns The message, lines ending in `\n` (as nodemailer's `newline: "unix"`).
 *
 * @example
 * ```ts
 * import { composeMessage } from "./mail_message.ts";
 * const eml = composeMessage({
 *   from: "Despacho <pedidos@despacho.local>",
 *   to: "cliente@example.cl",
 *   subject: "Recibimos tu pedido",
 *   text: "Hola,\n\nTu pedido está en camino.",
 *   messageId: "<o1.recibido@despacho.local>",
 * }, new Date("2026-01-01T00:00:00Z"));
 * eml.split("\n")[2]; // "Subject: Recibimos tu pedido"
 * ```
 */
export function composeMessage(mail: MailMessage, date: Date): string {
  // As nodemailer: text that is short-lined printable ASCII goes as it is.
  const plain = /^[\x20-\x7e\n]*$/.test(mail.text) &&
    mail.text.split("\n").every((l) => l.length <= 76 && !/[ \t]$/.test(l));
  return [
    `From: ${address(mail.from)}`,
    `To: ${address(mail.to)}`,
    `Subject: ${headerText(mail.subject, "Subject: ".length)}`,
    `Message-ID: ${mail.messageId}`,
    `Content-Transfer-Encoding: ${plain ? "7bit" : "quoted-printable"}`,
    `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    plain ? mail.text : quotedPrintable(mail.text),
  ].join("\n") + "\n";
}

/** `Name <address>`: the name as it is, quoted, or as encoded words, as it needs. */
function address(value: string): string {
  const m = /^\s*(.*?)\s*<([^<>]+)>\s*$/.exec(value);
  if (m === null) return value.trim();
  const [, name, addr] = m;
  if (name === "") return addr!;
  const unquoted = name!.replace(/^"(.*)"$/, "$1");
  if (!PLAIN_HEADER.test(unquoted)) return `${encodedWords(unquoted, 0)} <${addr}>`;
  if (ATEXT.test(unquoted)) return `${unquoted} <${addr}>`;
  return `"${unquoted.replace(/(["\\])/g, "\\$1")}" <${addr}>`;
}

/**
 * Header text: as it is when printable ASCII (folded at spaces to keep lines near 76), else
 * encoded words.
 */
function headerText(text: string, used: number): string {
  if (!PLAIN_HEADER.test(text)) return encodedWords(text, used);
  let line = used;
  return text.split(" ").reduce((out, word, i) => {
    if (i === 0) {
      line += word.length;
      return word;
    }
    if (line + 1 + word.length > 76) {
      line = 1 + word.length;
      return `${out}\n ${word}`;
    }
    line += 1 + word.length;
    return `${out} ${word}`;
  }, "");
}

/**
 * RFC 2047 encoded words, UTF-8 and Q encoding, each at most 75 characters and never splitting a
 * character, one per folded line.
 */
function encodedWords(text: string, used: number): string {
  const words: string[] = [];
  let word = "";
  const room = (first: boolean) => 75 - "=?UTF-8?Q??=".length - (first ? used : 1);
  for (const ch of text) {
    let q: string;
    if (ch === " ") q = "_";
    else if (Q_SAFE.test(ch)) q = ch;
    else q = Array.from(encoder.encode(ch), (b) => `=${HEX[b]}`).join("");
    if (word.length + q.length > room(words.length === 0) && word !== "") {
      words.push(word);
      word = "";
    }
    word += q;
  }
  words.push(word);
  return words.map((w) => `=?UTF-8?Q?${w}?=`).join("\n ");
}

/**
 * Quoted-printable (RFC 2045) of UTF-8 text: line breaks kept, `=`, bytes outside printable ASCII
 * and a space or tab ending a line encoded, soft breaks (`=` at the end of a line) keeping each
 * line at most 76 characters.
 *
 * @param text The body.
 * @returns The encoded body, lines ending in `\n`.
 */
export function quotedPrintable(text: string): string {
  return text.split(/\r?\n/).map((line) => {
    const bytes = encoder.encode(line);
    const out: string[] = [];
    let current = "";
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      const last = i === bytes.length - 1;
      let piece: string;
      if (
        b === 0x3d || b > 0x7e || (b < 0x20 && b !== 0x09) || ((b === 0x20 || b === 0x09) && last)
      ) {
        piece = `=${HEX[b]}`;
      } else piece = String.fromCharCode(b);
      // 75 characters and the soft break's `=`.
      if (current.length + piece.length > 75) {
        out.push(`${current}=`);
        current = "";
      }
      current += piece;
    }
    out.push(current);
    return out.join("\n");
  }).join("\n");
}
