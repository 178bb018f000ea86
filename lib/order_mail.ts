/**
 * What the customer is told at each state of an order: pure, so the same transition always
 * yields the same mail (and the same Message-ID); and whether it is told at all, once the order
 * may have been erased ({@linkcode orderMailStep}).
 */
import type { Tombstone } from "./kafka/records.ts";
import type { OrderProcessingEvent, OrderState, OrderTransition } from "./order.ts";
import { mailTombstones } from "./order_status.ts";

/** A mail to send, independent of the transport. */
export interface OrderMail {
  to: string;
  subject: string;
  text: string;
  /** Deterministic per (order, state): a redelivered transition yields the same Message-ID. */
  messageId: string;
}

const WORDING: Record<OrderState, { subject: string; line: string }> = {
  recibido: {
    subject: "Recibimos tu pedido",
    line: "Recibimos tu pedido y pronto comenzaremos a prepararlo.",
  },
  preparando: {
    subject: "Estamos preparando tu pedido",
    line: "Tu pedido se está preparando.",
  },
  entregando: {
    subject: "Tu pedido va en camino",
    line: "Tu pedido salió a reparto y va en camino.",
  },
  finalizado: {
    subject: "Tu pedido fue entregado",
    line: "Tu pedido fue entregado. ¡Gracias por preferirnos!",
  },
};

const CLP = new Intl.NumberFormat("es-CL", { style: "currency", currency: "CLP" });

/**
 * The Message-ID of the mail about `state` of order `id`.
 *
 * @param id The order id.
 * @param state The state the mail announces.
 * @param domain The right-hand side of the id.
 * @default domain "despacho.local"
 */
export function orderMessageId(id: string, state: OrderState, domain = "despacho.local"): string {
  return `<${id}.${state}@${domain}>`;
}

/**
 * The mail announcing one transition.
 *
 * @param transition The transition read from `order_processing`.
 * @returns Recipient, subject, body and Message-ID.
 *
 * @example
 * ```ts
 * import { orderMail } from "./order_mail.ts";
 * const mail = orderMail({
 *   v: 1, type: "OrderTransition", id: "o1", state: "recibido", seq: 1, next: null,
 *   at: "2026-01-01T00:00:00.000Z", requestedAt: "2026-01-01T00:00:00.000Z",
 *   order: { name: "Pizza", price: 12990, email: "cliente@example.cl" },
 * });
 * mail.messageId; // "<o1.recibido@despacho.local>"
 * ```
 */
export function orderMail(transition: OrderTransition): OrderMail {
  const { id, state, order, seq } = transition;
  const w = WORDING[state];
  return {
    to: order.email,
    subject: `${w.subject} (${seq}/4) — pedido ${id}`,
    text: [
      "Hola,",
      "",
      w.line,
      "",
      `Pedido: ${id}`,
      `Producto: ${order.name}`,
      `Precio: ${CLP.format(order.price)}`,
      `Estado: ${state} (${seq} de 4), desde ${transition.at}`,
      "",
      "Despacho",
    ].join("\n"),
    messageId: orderMessageId(id, state),
  };
}

/** What {@linkcode orderMailStep} decided. */
export type OrderMailStep =
  /** The mail announcing `transition` is owed. */
  | { kind: "mail"; transition: OrderTransition }
  /** No mail and no outcome: publish `records` (the order's mail tombstones); `erased` is known erased. */
  | { kind: "erase"; records: Tombstone[]; erased: string };

/**
 * Whether an order's record of `order_processing` (or the transition of a mail retry) still asks
 * for a mail. `OrderErased` asks for the status topic's mail tombstones of the order; a transition
 * of an erased order asks for no mail and no outcome record (the order was cancelled), only the
 * tombstones again, which also erase an outcome committed in a race before the role knew.
 *
 * @param event The record read, or a retry's transition.
 * @param erased Whether an order is known erased.
 * @param statusTopic The status topic.
 * @returns The mail owed, or what to publish instead.
 *
 * @example
 * ```ts
 * import { orderMailStep } from "./order_mail.ts";
 * const e = { v: 1, type: "OrderErased", id: "o1", at: "2026-01-01T00:00:00.000Z" } as const;
 * orderMailStep(e, () => false, "order_status").kind; // "erase"
 * ```
 */
export function orderMailStep(
  event: OrderProcessingEvent,
  erased: (id: string) => boolean,
  statusTopic: string,
): OrderMailStep {
  if (event.type === "OrderErased" || erased(event.id)) {
    return { kind: "erase", records: mailTombstones(statusTopic, event.id), erased: event.id };
  }
  return { kind: "mail", transition: event };
}
