// Errors the API returns: an HTTP status plus OpenAI's error object
// ({"error": {"message", "type", "param", "code"}}); the Ollama routes send {"error": message}.

/** OpenAI's error types. */
export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'server_error';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType = status >= 500 ? 'server_error' : 'invalid_request_error',
    readonly code: string | null = null,
    readonly param: string | null = null,
    /** Seconds a client should wait before retrying (503s). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** The body of an OpenAI-style error response. */
  toOpenAI(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 naming the offending field. */
export function badRequest(message: string, param: string | null = null, code = 'invalid_value'): ApiError {
  return new ApiError(400, message, 'invalid_request_error', code, param);
}
