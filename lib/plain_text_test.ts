import assert from "node:assert/strict";
import { CONTROL_CHARACTER_MESSAGE, plainEmail, plainText } from "./plain_text.ts";

/** Every C0 control character, DEL, and the ends of C1. */
const CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  "\x7f",
  "\x80",
  "\x85",
  "\x9f",
];
const hex = (c: string) => `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;

Deno.test("plainText() refuses every control character with one issue naming it", async (t) => {
  for (const c of CONTROLS) {
    await t.step(hex(c), () => {
      const parsed = plainText(1, 100).safeParse(`Pizza${c}napolitana`);
      assert.equal(parsed.success, false);
      assert.deepEqual(parsed.error?.issues.map((i) => i.message), [CONTROL_CHARACTER_MESSAGE]);
    });
  }
});

Deno.test("plainEmail() refuses every control character with one issue naming it", async (t) => {
  for (const c of CONTROLS) {
    await t.step(hex(c), () => {
      const parsed = plainEmail().safeParse(`cliente@example.cl${c}Bcc: x@y.cl`);
      assert.equal(parsed.success, false);
      assert.deepEqual(parsed.error?.issues.map((i) => i.message), [CONTROL_CHARACTER_MESSAGE]);
    });
  }
});

Deno.test("plainText() and plainEmail() accept printable text of any script, and keep their bounds", async (t) => {
  const cases: [string, boolean, boolean][] = [
    ["Colchón de espuma viscoelástica", true, false],
    ["寿司 🍣 – «ñandú» ‘x’", true, false],
    ["cliente@example.cl", true, true],
    ["", false, false],
    ["x".repeat(101), false, false],
    ["no-at-sign.example.cl", true, false],
  ];
  for (const [value, text, email] of cases) {
    await t.step(JSON.stringify(value.slice(0, 20)), () => {
      assert.equal(plainText(1, 100).safeParse(value).success, text);
      assert.equal(plainEmail().safeParse(value).success, email);
    });
  }
});
