/**
 * Text fields that travel into topics, logs and mail headers: refused at the edge when they hold a
 * control character, so a name like `"a\r\nBcc: victim@evil.test"` never reaches a mail header or a
 * log line.
 */
import { z } from "zod";

/**
 * Unicode control characters (general category Cc): C0 (U+0000–U+001F, with CR, LF, NUL and TAB),
 * DEL (U+007F) and C1 (U+0080–U+009F). None belongs in a name, an address or a product.
 */
const CONTROL_CHARACTER = /\p{Cc}/u;

/** The message of a field refused for a control character. */
export const CONTROL_CHARACTER_MESSAGE = "must not contain control characters";

/** A string check that stops at the first control character, before the other checks speak. */
function _noControlCharacters() {
  return z.string().refine((s) => !CONTROL_CHARACTER.test(s), {
    message: CONTROL_CHARACTER_MESSAGE,
    abort: true,
  });
}

/**
 * A text field of `min` to `max` characters without control characters.
 *
 * @param min Fewest characters.
 * @param max Most characters.
 * @returns The zod schema; a control character is its only issue when present.
 *
 * @example
 * ```ts
 * import { plainText } from "./plain_text.ts";
 * plainText(1, 100).safeParse("Pizza napolitana").success; // true
 * plainText(1, 100).safeParse("a\r\nBcc: victim@evil.test").success; // false
 * ```
 */
export function plainText(min: number, max: number) {
  return _noControlCharacters().min(min).max(max);
}

/**
 * An address as RFC 6531 (SMTPUTF8) allows it, in the shape zod's own check gives ASCII addresses:
 * dot-separated words of letters (any script, with their marks), digits and `_ ' + -` before the
 * `@`, and a domain of such labels after it, ending in letters. So `José.Núñez@mail.com`, what the
 * second report's generator makes of a name with accents, is an address; `María José.Pérez@mail.com`
 * (a space) and `x@y` are not.
 */
const UNICODE_EMAIL =
  /^(?:[\p{L}\p{M}\p{N}_'+\-]+\.)*[\p{L}\p{M}\p{N}_'+\-]*[\p{L}\p{M}\p{N}_+\-]@(?:[\p{L}\p{M}\p{N}][\p{L}\p{M}\p{N}\-]*\.)+[\p{L}\p{M}]{2,}$/u;

/** The message of an address refused by its shape. */
export const EMAIL_MESSAGE =
  "must be an email address: letters (accents allowed, sent with SMTPUTF8), digits and . _ ' + - before the @, a domain after it";

/** The local part (before the `@`) of an address is at most 64 octets (RFC 5321 4.5.3.1.1). */
const MAX_LOCAL_OCTETS = 64;

/**
 * An email address of at most `max` characters without control characters. Non-ASCII letters are
 * allowed (RFC 6531): the mailer sends such addresses with SMTPUTF8.
 *
 * @param max Most characters.
 * @default max 254
 * @returns The zod schema; a control character is its only issue when present.
 *
 * @example
 * ```ts
 * import { plainEmail } from "./plain_text.ts";
 * plainEmail().safeParse("cliente@example.cl").success; // true
 * plainEmail().safeParse("José.Núñez@mail.com").success; // true
 * plainEmail().safeParse("a@b.cl\r\nBcc: x@y.cl").success; // false
 * ```
 */
export function plainEmail(max = 254) {
  return _noControlCharacters().pipe(
    z.email({ pattern: UNICODE_EMAIL, message: EMAIL_MESSAGE }).max(max).refine(
      (a) => new TextEncoder().encode(a.slice(0, a.lastIndexOf("@"))).length <= MAX_LOCAL_OCTETS,
      { message: `must have at most ${MAX_LOCAL_OCTETS} bytes before the @` },
    ),
  );
}
