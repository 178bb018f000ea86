/**
 * The purchase event of the second seed (its "persona"), how it is classified, and what the
 * buyer is told. zod schemas here are the single source of these types (`v: 1` on the wire).
 */
import { z } from "zod";
import { plainEmail, plainText } from "./plain_text.ts";

/** Minutes from which a purchase counts as long (the report's 30 minutes). */
export const LONG_PURCHASE_MINUTES = 30;

const text = (max: number) => plainText(1, max);

/**
 * One visit to the shop (topic `purchase_events`, keyed by `id`). `taps` is the minutes from
 * entering the site to confirming the purchase: null or 0 means no purchase, and then `folio`
 * must be null; a purchase (`taps` > 0) must carry its `folio`. Negative or non-numeric `taps`
 * are refused. No text field may hold a control character.
 */
export const PurchaseSchema = z.object({
  v: z.literal(1),
  type: z.literal("Purchase"),
  id: text(64),
  nombre: text(100),
  apellido: text(100),
  edad: z.int().min(0).max(130),
  email: plainEmail(254),
  telefono: text(40),
  ubicacion: z.object({ direccion: text(200), ciudad: text(100), pais: text(100) }),
  productovisto: text(200),
  taps: z.number().min(0).max(100_000).nullable(),
  folio: text(40).nullable(),
  /** Event time: when the visit ended (ISO 8601). */
  ts: z.iso.datetime(),
}).superRefine((p, ctx) => {
  const bought = p.taps !== null && p.taps > 0;
  if (bought && p.folio === null) {
    ctx.addIssue({ code: "custom", path: ["folio"], message: "is required when taps is above 0" });
  }
  if (!bought && p.folio !== null) {
    ctx.addIssue({
      code: "custom",
      path: ["folio"],
      message: "must be null when taps is null or 0",
    });
  }
});

/** A validated purchase event. */
export type Purchase = z.infer<typeof PurchaseSchema>;

/** What a visit was: no purchase, a purchase under 30 minutes, or one of 30 minutes or more. */
export type PurchaseClass = "visit" | "short" | "long";

/**
 * Classifies a validated event.
 *
 * @param p The event.
 * @returns `visit` for `taps` null or 0, `short` under {@linkcode LONG_PURCHASE_MINUTES}, else `long`.
 *
 * @example
 * ```ts
 * import { classifyPurchase } from "./purchase.ts";
 * classifyPurchase({ taps: 29.99 }); // "short"
 * classifyPurchase({ taps: 30 }); // "long"
 * ```
 */
export function classifyPurchase(p: Pick<Purchase, "taps">): PurchaseClass {
  if (p.taps === null || p.taps === 0) return "visit";
  return p.taps < LONG_PURCHASE_MINUTES ? "short" : "long";
}

/** A notification to a buyer (topic `purchase_notifications`, keyed by event id). */
export const PurchaseNotifiedSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseNotified"),
  id: z.string(),
  kind: z.enum(["short", "long"]),
  to: z.string(),
  subject: z.string(),
  text: z.string(),
  folio: z.string(),
  /** The source record, so a reader can tell exactly-once from a duplicate. */
  source: z.object({ partition: z.int(), offset: z.string() }),
  at: z.iso.datetime(),
});

/** A `PurchaseNotified` event. */
export type PurchaseNotified = z.infer<typeof PurchaseNotifiedSchema>;

/**
 * The message for a purchase, in the report's words (section 5): the short one thanks and
 * invites to keep buying; the long one asks what went wrong.
 *
 * @param p A purchase (`taps` above 0, with `folio`).
 * @param kind Its class.
 * @returns Subject and body, addressed by name, naming product and folio.
 */
export function purchaseMessage(
  p: Purchase,
  kind: "short" | "long",
): { subject: string; text: string } {
  const opening = [
    `Estimad@ ${p.nombre},`,
    "",
    `¡Esperamos que estés bien! Queríamos recordarte que has adquirido el producto '${p.productovisto}' ` +
    `en nuestra tienda en línea. Tu número de folio es: ${p.folio}.`,
  ];
  if (kind === "short") {
    return {
      subject: `Gracias por tu compra (folio ${p.folio})`,
      text: [
        ...opening,
        "Te demoraste un tiempo corto en adquirirlo; te invitamos a seguir comprando en nuestra plataforma.",
        "",
        "Saludos.",
      ].join("\n"),
    };
  }
  return {
    subject: `¿Tuviste problemas con tu compra? (folio ${p.folio})`,
    text: [
      ...opening,
      `Notamos que completar la compra te tomó ${p.taps} minutos, más de lo esperado. ` +
      "Cuéntanos qué problemas tuviste respondiendo este mensaje o contactando a nuestro servicio al cliente: " +
      "cada inconveniente será atendido a la brevedad para mejorar nuestra plataforma.",
      "",
      "Saludos.",
    ].join("\n"),
  };
}
