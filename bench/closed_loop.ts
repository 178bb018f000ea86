/**
 * A closed-loop POST load: `clients` fetch loops, each sending a valid order as soon as its last
 * answer came, until a deadline. What `bench/capacity.ts` (intake ceiling) and
 * `bench/http_front.ts` (HTTP cost alone) measure with.
 */

/** One valid order, the same for every request. */
const BODY = JSON.stringify({ name: "Intake", price: 1000, email: "intake@despacho.example" });

/**
 * POSTs orders to `${target}/orders` from `clients` loops until `until` (`performance.now()`
 * scale).
 *
 * @param target The gateway's base URL.
 * @param clients How many requests are in flight at once.
 * @param until When the loops stop starting requests.
 * @returns Requests answered 202, and every other answer or failure.
 */
export async function postOrdersUntil(
  target: string,
  clients: number,
  until: number,
): Promise<{ accepted: number; refused: number }> {
  let accepted = 0;
  let refused = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < until) {
      const res = await fetch(`${target}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: BODY,
      }).catch(() => null);
      await res?.body?.cancel();
      if (res?.status === 202) accepted++;
      else refused++;
    }
  }));
  return { accepted, refused };
}
