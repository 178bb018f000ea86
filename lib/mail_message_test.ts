import assert from "node:assert/strict";
import nodemailer from "nodemailer";
import { composeMessage, type MailMessage, quotedPrintable } from "./mail_message.ts";

const decoder = new TextDecoder();

/** Headers unfolded and RFC 2047 words decoded, and the body decoded from quoted-printable. */
function decode(eml: string): { headers: Record<string, string>; body: string } {
  const [head, ...rest] = eml.split("\n\n");
  const headers: Record<string, string> = {};
  for (const line of head!.replace(/\n[ \t]/g, " ").split("\n")) {
    const i = line.indexOf(":");
    const value = line.slice(i + 1).trim()
      .replace(/\?=\s+=\?/g, "?==?")
      .replace(/=\?UTF-8\?Q\?(.*?)\?=/gi, (_, q: string) => bytesOf(q.replaceAll("_", " ")));
    headers[line.slice(0, i)] = value;
  }
  const body = rest.join("\n\n").replace(/\n$/, "");
  return {
    headers,
    body: headers["Content-Transfer-Encoding"] === "quoted-printable"
      ? bytesOf(body.replace(/=\n/g, ""))
      : body,
  };
}

function bytesOf(qp: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < qp.length; i++) {
    if (qp[i] === "=" && /^[0-9A-F]{2}$/i.test(qp.slice(i + 1, i + 3))) {
      bytes.push(parseInt(qp.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...new TextEncoder().encode(qp[i]!));
  }
  return decoder.decode(new Uint8Array(bytes));
}

const transport = nodemailer.createTransport({
  streamTransport: true,
  buffer: true,
  newline: "unix",
});

const BASE: MailMessage = {
  from: "Despacho <pedidos@despacho.local>",
  to: "cliente1@despacho.example",
  subject: "Recibimos tu pedido (1/4) — pedido 0b8f5c1e-3c3a-4b8e-9d8f-6a2f0e4c7b21",
  text: "Hola,\n\nRecibimos tu pedido y pronto comenzaremos a prepararlo.\n\nPrecio: $12.990",
  messageId: "<0b8f5c1e-3c3a-4b8e-9d8f-6a2f0e4c7b21.recibido@despacho.local>",
};

Deno.test("composeMessage() says what nodemailer's composer says for the same mail", async (t) => {
  const cases: [string, Partial<MailMessage>][] = [
    ["an order mail", {}],
    ["an ASCII subject", { subject: "Your order" }],
    ["a long ASCII subject", { subject: "word ".repeat(30).trim() }],
    ["accents everywhere", {
      subject: "¿Tuviste problemas con tu compra? ñandú über çà",
      text: "Estimad@ José,\n¡Esperamos que estés bien! ".repeat(8),
    }],
    ["a long unbroken line", { text: "x".repeat(300) + "é".repeat(100) }],
    ["an equals sign and trailing spaces", { text: "a=b \nc\t\n  d  " }],
    ["a sender name with accents", { from: "Despacho Ñuñoa <pedidos@despacho.local>" }],
    ["a sender name with specials", { from: "Despacho, S.A. <pedidos@despacho.local>" }],
    ["a bare sender address", { from: "pedidos@despacho.local" }],
  ];
  const date = new Date("2026-11-24T12:00:00.000Z");
  for (const [name, change] of cases) {
    await t.step(name, async () => {
      const mail = { ...BASE, ...change };
      const ours = composeMessage(mail, date);
      const info = await transport.sendMail({ ...mail, date });
      const theirs = decoder.decode(info.message as Uint8Array);
      const a = decode(ours);
      const b = decode(theirs);
      assert.deepEqual(Object.keys(a.headers).sort(), Object.keys(b.headers).sort());
      for (const k of Object.keys(b.headers)) {
        if (k === "Content-Transfer-Encoding") {
          // Either, so long as the body decodes to the text (checked below).
          assert.match(a.headers[k]!, /^(7bit|quoted-printable)$/);
        } else if (k === "From" || k === "To") {
          // nodemailer quotes some names it need not; the address and the name are what count.
          assert.equal(a.headers[k]!.replaceAll('"', ""), b.headers[k]!.replaceAll('"', ""), k);
        } else assert.equal(a.headers[k], b.headers[k], k);
      }
      assert.equal(a.body, mail.text);
      assert.equal(b.body, mail.text);
      for (const line of ours.split("\n")) assert.ok(line.length <= 76, `too long: ${line}`);
    });
  }
});

Deno.test("quotedPrintable() keeps lines, encodes what must be and breaks softly at 76", () => {
  assert.equal(quotedPrintable("a=b"), "a=3Db");
  assert.equal(quotedPrintable("fin \nsí"), "fin=20\ns=C3=AD");
  const long = quotedPrintable("é".repeat(40));
  assert.deepEqual(long.split("\n").map((l) => l.length), [76, 76, 76, 15]);
  assert.ok(long.split("\n")[0]!.endsWith("="));
});
