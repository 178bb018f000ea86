/**
 * The purchase event of the second seed (its "persona"), how it is classified, what the buyer is
 * told, and the records the purchase-analytics role writes: closed windows and totals
 * (`purchase_analytics`) and checkpoints of its state (`purchase_analytics_state`). zod schemas
 * here are the single source of these types (`v: 1` on the wire), for the role that writes them
 * and for the gateway that reads them.
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

/** Mergeable statistics of a set of events: counts and a 0.1-minute histogram of `taps`. */
export const PurchaseStatsSchema = z.object({
  events: z.int().min(0),
  purchases: z.int().min(0),
  /** Visits without purchase (`taps` null or 0). */
  visits: z.int().min(0),
  short: z.int().min(0),
  long: z.int().min(0),
  /** Sum of `taps` over purchases, in minutes. */
  tapsSum: z.number().min(0),
  /** Purchases per `taps` in tenths of a minute (`"178"` is 17.8 minutes). */
  taps: z.record(z.string(), z.int().min(0)),
  /** Purchases per product. */
  products: z.record(z.string(), z.int().min(0)),
  /** Purchases per country. */
  countries: z.record(z.string(), z.int().min(0)),
});

/** Statistics of a window, or of everything since the start. */
export type PurchaseStats = z.infer<typeof PurchaseStatsSchema>;

/** What a person reads about a window, or about the totals (derived from statistics). */
export const PurchaseReportSchema = z.object({
  events: z.int().min(0),
  purchases: z.int().min(0),
  visitsWithoutPurchase: z.int().min(0),
  conversionRate: z.number().min(0).max(1).meta({ description: "Purchases per event" }),
  shortPurchases: z.int().min(0).meta({ description: "`taps` under 30 minutes" }),
  longPurchases: z.int().min(0).meta({ description: "`taps` of 30 minutes or more" }),
  taps: z.object({ mean: z.number(), p50: z.number(), p95: z.number() }).nullable().meta({
    description: "Minutes from entering to buying, over purchases; null without purchases",
  }),
  topProducts: z.array(z.object({ product: z.string(), purchases: z.int().min(1) })),
  purchasesByCountry: z.record(z.string(), z.int().min(0)),
});

/** A {@linkcode PurchaseReportSchema} value. */
export type PurchaseReport = z.infer<typeof PurchaseReportSchema>;

/**
 * A closed window of one input partition (topic `purchase_analytics`, keyed
 * `{start}/{partition}`). Windows of several partitions merge by adding their `stats`; `report`
 * is derived from `stats`, for a person reading the topic.
 */
export const PurchaseWindowSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseWindow"),
  partition: z.int().min(0),
  start: z.iso.datetime(),
  end: z.iso.datetime(),
  stats: PurchaseStatsSchema,
  report: PurchaseReportSchema,
});

/** A `PurchaseWindow` record. */
export type PurchaseWindow = z.infer<typeof PurchaseWindowSchema>;

/**
 * Every event one input partition counted since the start, late ones included (topic
 * `purchase_analytics`, keyed `totals/{partition}`; published with every batch).
 */
export const PurchaseTotalsSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseTotals"),
  partition: z.int().min(0),
  stats: PurchaseStatsSchema,
  /** Events that came after their window had closed. */
  late: z.int().min(0),
  /** Records that could not be parsed (dead-lettered). */
  invalid: z.int().min(0),
  /** Event time below which this partition's windows are closed; null before any event. */
  watermark: z.iso.datetime().nullable(),
  report: PurchaseReportSchema,
});

/** A `PurchaseTotals` record. */
export type PurchaseTotals = z.infer<typeof PurchaseTotalsSchema>;

/** Any record of the `purchase_analytics` topic. */
export const PurchaseAnalyticsRecordSchema = z.discriminatedUnion("type", [
  PurchaseWindowSchema,
  PurchaseTotalsSchema,
]);

/** A record of the `purchase_analytics` topic. */
export type PurchaseAnalyticsRecord = z.infer<typeof PurchaseAnalyticsRecordSchema>;

/** One open window: its bounds in ms since the epoch (start inclusive, end exclusive). */
export const WindowStateSchema = z.object({
  start: z.int(),
  end: z.int(),
  stats: PurchaseStatsSchema,
});

/** An open window. */
export type WindowState = z.infer<typeof WindowStateSchema>;

/** Everything the windowing of one partition keeps between events (plain JSON). */
export const AnalyticsStateSchema = z.object({
  /** Event time below which windows are closed, ms; null before any event. */
  watermark: z.int().nullable(),
  /** Open windows, by start. */
  open: z.array(WindowStateSchema),
  /** Every valid event since the start, late ones included. */
  totals: PurchaseStatsSchema,
  /** Events that came after their window had closed. */
  late: z.int().min(0),
  /** Records that could not be parsed (dead-lettered). */
  invalid: z.int().min(0),
});

/** The windowing state of one partition. */
export type AnalyticsState = z.infer<typeof AnalyticsStateSchema>;

/**
 * The state of one input partition after its record at `offset` (topic
 * `purchase_analytics_state`, compacted, keyed `{group}/{topic}/{partition}`). It is written in
 * the same Kafka transaction as the group's offset `offset + 1` for that partition, so the latest
 * checkpoint describes exactly the position the group resumes from.
 */
export const PurchaseCheckpointSchema = z.object({
  v: z.literal(1),
  type: z.literal("PurchaseCheckpoint"),
  /** The input topic and partition. */
  topic: z.string().min(1),
  partition: z.int().min(0),
  /** The last input offset counted in `state`. */
  offset: z.string().regex(/^\d+$/),
  state: AnalyticsStateSchema,
});

/** A `PurchaseCheckpoint` record. */
export type PurchaseCheckpoint = z.infer<typeof PurchaseCheckpointSchema>;
