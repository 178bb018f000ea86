import assert from "node:assert/strict";
import { classifyPurchase, type Purchase, purchaseMessage, PurchaseSchema } from "./purchase.ts";

const base = {
  v: 1,
  type: "Purchase",
  id: "062292fdfb7e3e688f29418e",
  nombre: "Scarlett",
  apellido: "Morris",
  edad: 44,
  email: "scarlett.morris@mail.com",
  telefono: "+70 976-874-0232",
  ubicacion: { direccion: "123 Abbey Road", ciudad: "Lakewood", pais: "Inverness" },
  productovisto: "Colchón de espuma viscoelástica",
  taps: 17.8,
  folio: "SRZ-5509",
  ts: "2026-11-24T12:00:00.000Z",
};

Deno.test("PurchaseSchema and classifyPurchase() at the boundaries", async (t) => {
  const cases: [string, Record<string, unknown>, "visit" | "short" | "long" | "invalid"][] = [
    ["29.99 minutes", { taps: 29.99 }, "short"],
    ["30 minutes", { taps: 30 }, "long"],
    ["30.0 minutes", { taps: 30.0 }, "long"],
    ["0.1 minutes", { taps: 0.1 }, "short"],
    ["null taps, null folio", { taps: null, folio: null }, "visit"],
    ["0 taps, null folio", { taps: 0, folio: null }, "visit"],
    ["negative taps", { taps: -1 }, "invalid"],
    ["taps as a string", { taps: "17.8" }, "invalid"],
    ["taps missing", { taps: undefined }, "invalid"],
    ["valid taps without folio", { folio: null }, "invalid"],
    ["folio with null taps", { taps: null }, "invalid"],
    ["folio with 0 taps", { taps: 0 }, "invalid"],
    ["bad email", { email: "no" }, "invalid"],
    ["bad event time", { ts: "ayer" }, "invalid"],
  ];
  for (const [name, change, want] of cases) {
    await t.step(name, () => {
      const parsed = PurchaseSchema.safeParse({ ...base, ...change });
      assert.equal(parsed.success ? classifyPurchase(parsed.data) : "invalid", want);
    });
  }
});

Deno.test("purchaseMessage() words short and long purchases as the report does, by name, product and folio", () => {
  const p = PurchaseSchema.parse(base) as Purchase;
  const short = purchaseMessage(p, "short");
  assert.match(short.text, /^Estimad@ Scarlett,/);
  assert.match(short.text, /'Colchón de espuma viscoelástica'/);
  assert.match(short.text, /Tu número de folio es: SRZ-5509/);
  assert.match(short.text, /te invitamos a seguir comprando en nuestra plataforma/);
  const long = purchaseMessage({ ...p, taps: 45.5 }, "long");
  assert.match(long.text, /^Estimad@ Scarlett,/);
  assert.match(long.text, /SRZ-5509/);
  assert.match(long.text, /45.5 minutos/);
  assert.match(long.text, /Cuéntanos qué problemas tuviste/);
  assert.notEqual(short.subject, long.subject);
});
