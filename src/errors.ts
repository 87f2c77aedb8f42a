/**
 * An error meant for the user: bad input, a missing file, an unknown option.
 * The CLI prints its message on one line and exits with code 2, without a stack trace.
 * Anything else that is thrown is a bug and keeps its stack trace.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
