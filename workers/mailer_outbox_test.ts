import assert from "node:assert/strict";
import { classifyMailFailure } from "../lib/mail_delivery.ts";
import { createLogger } from "../lib/log.ts";
import { startSmtp } from "../infra/smtp.ts";
import { createMailer } from "./mailer.ts";

const quiet = createLogger("test", "error", () => {});
const MAIL_FROM = "Despacho <pedidos@despacho.local>";
const mail = {
  to: "cliente@example.cl",
  subject: "Tu pedido está preparando",
  text: "Hola",
  messageId: "<o-1.preparando@despacho.local>",
};

Deno.test("createMailer() without SMTP_URL writes one .eml per mail, named after its Message-ID, inside OUTBOX_DIR", async () => {
  const dir = await Deno.makeTempDir({ prefix: "despacho-mailer-" });
  try {
    const outbox = `${dir}/outbox`;
    const mailer = await createMailer({ MAIL_FROM, OUTBOX_DIR: outbox }, quiet);
    assert.equal(mailer.target, outbox);
    await Promise.all([
      mailer.send(mail),
      // A Message-ID with a path in it still lands in the outbox, under a safe name.
      mailer.send({ ...mail, messageId: "<../a b/c@despacho.local>" }),
    ]);
    const names = [];
    for await (const entry of Deno.readDir(outbox)) names.push(entry.name);
    assert.deepEqual(names.sort(), [
      ".._a_b_c@despacho.local.eml",
      "o-1.preparando@despacho.local.eml",
    ]);
    const text = await Deno.readTextFile(`${outbox}/o-1.preparando@despacho.local.eml`);
    assert.match(text, /^Message-ID: <o-1\.preparando@despacho\.local>$/m);
    assert.match(text, /^To: cliente@example\.cl$/m);
    mailer.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createMailer() with SMTP_URL delivers over SMTP, and a refusal carries the reply code", async () => {
  const smtp = await startSmtp();
  const mailer = await createMailer({ SMTP_URL: smtp.url, MAIL_FROM, OUTBOX_DIR: "unused" }, quiet);
  try {
    assert.equal(mailer.target, smtp.url);
    await mailer.send(mail);
    assert.deepEqual(
      smtp.mails.map((m) => [m.from, m.to, m.messageId]),
      [["pedidos@despacho.local", ["cliente@example.cl"], "<o-1.preparando@despacho.local>"]],
    );
    smtp.refuseRecipients(/nadie@/, 550);
    const refused = await mailer.send({ ...mail, to: "nadie@example.cl" }).then(
      () => assert.fail("a refused mail must reject"),
      (error: unknown) => error,
    );
    assert.equal((refused as { responseCode?: number }).responseCode, 550);
    assert.equal(classifyMailFailure(refused), "permanent");
    // The server quoted the address; what the mailer throws (logged, traced, published) does not.
    const told = JSON.stringify({
      message: (refused as Error).message,
      response: (refused as { response?: unknown }).response,
    });
    assert.ok(!told.includes("nadie@example.cl"), told);
    assert.match(told, /<recipient>/);
  } finally {
    mailer.close();
    await smtp.close();
  }
});
