import assert from "node:assert/strict";
import {
  classifyPurchase,
  DEFAULT_STORE_NAME,
  purchaseEvent,
  purchaseMessage,
  PurchaseSchema,
} from "./purchase.ts";
import { EMAIL_MESSAGE } from "./plain_text.ts";

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

/**
 * The records the second report prints (its Figure 7), as its generator wrote them: no envelope,
 * no event time. Scarlett's keys `"apellido "` and `"tel efono"` in the PDF are its line breaks,
 * not the generator's output (its code writes `apellido`, `telefono`).
 */
const REPORT_RECORDS = [
  '{"id": "062292fdfb7e3e688f29418e", "nombre": "Scarlett", "apellido": "Morris", "edad": 44, "email": "Scarlett.Morris@mail.com", "telefono": "+70 976-874-0232", "ubicacion": {"direccion": "123 Abbey Road", "ciudad": "Lakewood", "pais": "Inverness"}, "productovisto" : "Colch\\u00f3n de espuma viscoel\\u00e1stica", "taps": 17.8, "folio": "SRZ-5509"}',
  '{"id": "6b28427ff85faa10eb5321dc", "nombre": "John", "apellido": "Harrison", "edad": 63, "email": "John.Harrison@mail.com", "telefono": "+94 585-941-9707", "ubicacion": {"direccion": "789 Via Milano", "ciudad": "Rosewood", "pais": "Queenshire"}, "productovisto": "Kit de maquillaje profesional", "taps": 0, "folio": null}',
  '{"id": "4458865aac12aaecbd462e45", "nombre": "Eduardo", "apellido": "Wright", "edad": 39, "email": "Eduardo.Wright@mail.com", "telefono": "+43 276-162-7851", "ubicacion": {"direccion": "123 Oak Street", "ciudad": "Willow Creek", "pais": "Hartford"}, "productovisto": "Reloj inteligente", "taps": 18.1, "folio": "FMR-8760"}',
  '{"id": "73ea7cf767df0272481549db", "nombre": "Luis", "apellido": "Reed", "edad": 66, "email": "Luis.Reed@mail.com", "telefono": "+89 954-043-1254", "ubicacion": {"direccion": "456 Calle Granada", "ciudad": "Northville", "pais": "Hartford"}, "productovisto": "Barra de sonido para TV", "taps": 0, "folio": null}',
];

Deno.test("PurchaseSchema accepts the report's printed records as they are", () => {
  const kinds = REPORT_RECORDS.map((line) => {
    const parsed = PurchaseSchema.safeParse(JSON.parse(line));
    assert.ok(parsed.success, `${line}: ${JSON.stringify(parsed.error?.issues)}`);
    return classifyPurchase(purchaseEvent(parsed.data, 0));
  });
  assert.deepEqual(kinds, ["short", "visit", "short", "visit"]);
});

Deno.test("PurchaseSchema and classifyPurchase() at the boundaries", async (t) => {
  const cases: [string, Record<string, unknown>, "visit" | "short" | "long" | "invalid"][] = [
    ["29.99 minutes", { taps: 29.99 }, "short"],
    ["30 minutes", { taps: 30 }, "long"],
    ["30.0 minutes", { taps: 30.0 }, "long"],
    ["0.1 minutes", { taps: 0.1 }, "short"],
    ["null taps, null folio", { taps: null, folio: null }, "visit"],
    ["0 taps, null folio", { taps: 0, folio: null }, "visit"],
    ['empty taps ("vacío"), null folio', { taps: "", folio: null }, "visit"],
    ["empty taps, empty folio", { taps: "", folio: "" }, "visit"],
    ["no taps, no folio", { taps: undefined, folio: undefined }, "visit"],
    ["no envelope (v, type)", { v: undefined, type: undefined }, "short"],
    ["no event time", { ts: undefined }, "short"],
    ["an address with accents (SMTPUTF8)", { email: "José.Núñez@mail.com" }, "short"],
    ["negative taps", { taps: -1 }, "invalid"],
    ["taps as a string", { taps: "17.8" }, "invalid"],
    ["valid taps without folio", { folio: null }, "invalid"],
    ["valid taps with an empty folio", { folio: "" }, "invalid"],
    ["folio with null taps", { taps: null }, "invalid"],
    ["folio with 0 taps", { taps: 0 }, "invalid"],
    ["folio with empty taps", { taps: "" }, "invalid"],
    ["another version", { v: 2 }, "invalid"],
    ["another type", { type: "Order" }, "invalid"],
    ["bad email", { email: "no" }, "invalid"],
    ["bad event time", { ts: "ayer" }, "invalid"],
  ];
  for (const [name, change, want] of cases) {
    await t.step(name, () => {
      const parsed = PurchaseSchema.safeParse({ ...base, ...change });
      assert.equal(
        parsed.success ? classifyPurchase(purchaseEvent(parsed.data, 0)) : "invalid",
        want,
      );
    });
  }
});

Deno.test("PurchaseSchema refuses an address a mail server would not take, saying why", async (t) => {
  const cases: [string, string][] = [
    ["a space (two first names)", "María José.Pérez@mail.com"],
    ["no dot in the domain", "ana@mail"],
    ["two @", "ana@b@mail.com"],
    ["a local part over 64 bytes", `${"ñ".repeat(33)}@mail.com`],
  ];
  for (const [name, email] of cases) {
    await t.step(name, () => {
      const parsed = PurchaseSchema.safeParse({ ...base, email });
      assert.equal(parsed.success, false);
      const messages = parsed.error!.issues.filter((i) => i.path[0] === "email").map((i) =>
        i.message
      );
      assert.ok(
        messages.includes(EMAIL_MESSAGE) || messages.some((m) => m.includes("64 bytes")),
        JSON.stringify(messages),
      );
    });
  }
});

Deno.test("purchaseEvent() takes the event's own time, else its record's, and settles empty taps and folio", () => {
  const recordTs = Date.parse("2026-12-05T10:00:00.000Z");
  const own = purchaseEvent(PurchaseSchema.parse(base), recordTs);
  assert.equal(own.ts, base.ts);
  const { ts: _ts, ...untimed } = base;
  assert.equal(
    purchaseEvent(PurchaseSchema.parse(untimed), recordTs).ts,
    "2026-12-05T10:00:00.000Z",
  );
  const visit = purchaseEvent(PurchaseSchema.parse({ ...base, taps: "", folio: "" }), recordTs);
  assert.deepEqual([visit.taps, visit.folio], [null, null]);
  const absent = { ...base } as Record<string, unknown>;
  delete absent.taps;
  delete absent.folio;
  const bare = purchaseEvent(PurchaseSchema.parse(absent), recordTs);
  assert.deepEqual([bare.taps, bare.folio], [null, null]);
});

Deno.test("purchaseMessage() says the report's short message, with the shop's name", () => {
  const p = purchaseEvent(PurchaseSchema.parse(base), 0);
  const short = purchaseMessage(p, "short", "Falabella");
  // The report's Figure 7, its spelling slips corrected (adquerido, adquerirlo, platadorma).
  assert.equal(
    short.text,
    [
      "Estimad@ Scarlett,",
      "",
      "¡Esperamos que estés bien! Queríamos recordarte que has adquirido el producto " +
      "'Colchón de espuma viscoelástica' en nuestra tienda en línea de Falabella. Tu número de " +
      "folio es: SRZ-5509, donde te demoraste un tiempo corto en adquirirlo, te invitamos a " +
      "seguir comprando en nuestra plataforma.",
      "",
      "Saludos.",
    ].join("\n"),
  );
  assert.match(
    purchaseMessage(p, "short").text,
    new RegExp(`tienda en línea de ${DEFAULT_STORE_NAME}\\.`),
  );
});

Deno.test("purchaseMessage() asks a long purchase what went wrong, by name, product, shop and folio", () => {
  const p = purchaseEvent(PurchaseSchema.parse({ ...base, taps: 45.5 }), 0);
  const short = purchaseMessage({ ...p, taps: 17.8 }, "short", "Tienda Sur");
  const long = purchaseMessage(p, "long", "Tienda Sur");
  assert.match(long.text, /^Estimad@ Scarlett,/);
  assert.match(
    long.text,
    /'Colchón de espuma viscoelástica' en nuestra tienda en línea de Tienda Sur/,
  );
  assert.match(long.text, /Tu número de folio es: SRZ-5509/);
  assert.match(long.text, /te demoraste 45.5 minutos en adquirirlo, más de lo esperado/);
  assert.match(long.text, /cuéntanos qué problemas tuviste/);
  assert.match(long.subject, /Tienda Sur/);
  assert.notEqual(short.subject, long.subject);
});
