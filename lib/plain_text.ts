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
 * An email address of at most `max` characters without control characters.
 *
 * @param max Most characters.
 * @default max 254
 * @returns The zod schema; a control character is its only issue when present.
 *
 * @example
 * ```ts
 * import { plainEmail } from "./plain_text.ts";
 * plainEmail().safeParse("cliente@example.cl").success; // true
 * plainEmail().safeParse("a@b.cl\r\nBcc: x@y.cl").success; // false
 * ```
 */
export function plainEmail(max = 254) {
  return _noControlCharacters().pipe(z.email().max(max));
}
