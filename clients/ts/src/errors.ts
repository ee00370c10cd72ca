// Errors of the client: every failure is a RhizomeError carrying the
// node's `code` (or the client's own: `unreachable`, `timeout`, ...).

import type { ErrorDetail, Json } from "./wire.js";

/** An error answered by the node (`{"error": {"code", "message", ...}}`) or met on the way. */
export class RhizomeError extends Error {
  /** The node's error code (`not_found`, `invalid_delta`, `conflict`, ...) or the client's. */
  readonly code: string;
  /** The HTTP status (0 when there was no answer). */
  readonly status: number;
  /** The error's details as the node sent them (`index`, `id`, `field`, ...). */
  readonly details: { [key: string]: Json | undefined };

  constructor(status: number, detail: ErrorDetail) {
    super(detail.message);
    this.name = "RhizomeError";
    this.code = detail.code;
    this.status = status;
    this.details = detail;
  }
}

/** The node could not be reached (network down, node stopped): `code` is `unreachable`. */
export class UnreachableError extends RhizomeError {
  constructor(message: string, readonly cause?: unknown) {
    super(0, { code: "unreachable", message });
    this.name = "UnreachableError";
  }
}

/** Builds the error of a non-2xx answer. */
export async function errorFrom(res: Response): Promise<RhizomeError> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: ErrorDetail };
    if (body.error && typeof body.error.code === "string") {
      return new RhizomeError(res.status, body.error);
    }
  } catch {
    // not JSON: fall through
  }
  return new RhizomeError(res.status, {
    code: `http_${res.status}`,
    message: text.trim() || `HTTP ${res.status}`,
  });
}
