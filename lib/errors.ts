/**
 * Error codes shared across Despacho. Callers branch on `code` and `retriable`,
 * never on message text.
 */
export const ERROR_CODES = [
  "ILLEGAL_TRANSITION",
  "INVALID_CONFIG",
  "INVALID_RECORD",
  "KAFKA_UNAVAILABLE",
  "SMTP_FAILED",
  "IDEMPOTENCY_CONFLICT",
  "OVERLOADED",
] as const;

/** One of {@linkcode ERROR_CODES}. */
export type ErrorCode = typeof ERROR_CODES[number];

/**
 * An error a caller is expected to catch: it carries a machine-readable `code`
 * and whether retrying the same operation can succeed.
 */
export class DespachoError extends Error {
  /** What failed, from {@linkcode ERROR_CODES}. */
  readonly code: ErrorCode;
  /** Whether the same operation may succeed if tried again. */
  readonly retriable: boolean;

  /**
   * @param code What failed.
   * @param message Sentence case, no full stop, naming the action and the value.
   * @param options `retriable` (default false) and an optional `cause`.
   */
  constructor(
    code: ErrorCode,
    message: string,
    options: { retriable?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DespachoError";
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}
