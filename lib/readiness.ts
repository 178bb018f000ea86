/**
 * What keeps this process from doing its work, by check, for a worker's `GET /readyz` (one
 * instance per process, like the metrics registry). A part sets a problem when it finds one (the
 * mailer: `smtp`, our login or TLS refused) and clears it when it works again.
 *
 * @example
 * ```ts
 * import { Readiness } from "./readiness.ts";
 * const readiness = new Readiness();
 * readiness.set("smtp", "Cannot send mail: login refused");
 * readiness.ready; // false
 * readiness.set("smtp", null);
 * readiness.ready; // true
 * ```
 */
export class Readiness {
  #problems = new Map<string, string>();

  /**
   * Records or clears a problem.
   *
   * @param check What is checked (`smtp`).
   * @param problem What is wrong, one sentence without secrets; `null` when it works.
   */
  set(check: string, problem: string | null): void {
    if (problem === null) this.#problems.delete(check);
    else this.#problems.set(check, problem);
  }

  /** Whether no check has a problem. */
  get ready(): boolean {
    return this.#problems.size === 0;
  }

  /** The problems by check. */
  problems(): Record<string, string> {
    return Object.fromEntries(this.#problems);
  }
}

/** This process's readiness. */
export const readiness: Readiness = new Readiness();
