/**
 * RFC 9457 problem details: the one shape every HTTP error of Despacho takes
 * (`application/problem+json`).
 */

/** One invalid field of a request. */
export interface FieldError {
  /** Dotted path of the field (`price`, `ubicacion.pais`), or `(body)` for the whole body. */
  field: string;
  message: string;
}

/** A problem details body. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  /** Errors found and not listed in `errors`, when a list is capped. */
  errorsOmitted?: number;
  /** Why a credential was refused (401, 403): `missing`, `expired`, `wrong-audience`… */
  reason?: string;
}

/** Thrown by handlers for an expected failure; `app.onError` turns it into its response. */
export class HttpProblem extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The body. */
  readonly problem: Problem;
  /** Extra response headers (`Retry-After`, …). */
  readonly headers: Record<string, string>;

  /**
   * @param status HTTP status code.
   * @param title Short, the same for every occurrence of this kind of problem.
   * @param detail This occurrence, naming the value.
   * @param extra Field errors (with the count of those not listed) and response headers.
   */
  constructor(
    status: number,
    title: string,
    detail: string,
    extra: { errors?: FieldError[]; errorsOmitted?: number; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = "HttpProblem";
    this.status = status;
    this.headers = extra.headers ?? {};
    this.problem = {
      type: `https://despacho.local/problems/${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`,
      title,
      status,
      detail,
      ...(extra.errors === undefined ? {} : { errors: extra.errors }),
      ...(extra.errorsOmitted === undefined ? {} : { errorsOmitted: extra.errorsOmitted }),
    };
  }
}

/**
 * Field errors from zod issues.
 *
 * @param issues `error.issues` of a failed `safeParse`.
 * @returns One entry per issue, unrecognized keys split into one entry per key.
 */
export function fieldErrors(
  issues: readonly {
    path: readonly PropertyKey[];
    message: string;
    code?: string;
    keys?: readonly string[];
  }[],
): FieldError[] {
  return issues.flatMap((issue) => {
    const base = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys" && issue.keys !== undefined) {
      return issue.keys.map((key) => ({
        field: base ? `${base}.${key}` : key,
        message: "is not an accepted field",
      }));
    }
    return [{ field: base || "(body)", message: issue.message }];
  });
}
