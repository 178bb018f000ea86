/**
 * `worker --role purchase-analytics` (issue 3): not built yet. The role says so and stops, so
 * that `deno task start` reports it plainly instead of pretending to run it.
 */
import { DespachoError } from "../lib/errors.ts";
import type { RoleContext } from "./role.ts";

/**
 * Refuses to run: the role is not built yet.
 *
 * @throws {DespachoError} Always.
 */
export function run(_ctx: RoleContext): Promise<void> {
  return Promise.reject(
    new DespachoError("NOT_BUILT", "Cannot run purchase-analytics: the role is not built yet"),
  );
}
