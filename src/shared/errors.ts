/** Errors that end a command with a specific exit code (docs/behaviour.md "Exit codes"). */
export const ExitCode = { Ok: 0, Rejected: 1, Usage: 2, Locked: 3, NotFound: 4, SystemFault: 5 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Bad usage or configuration: exit 2, message names the key or flag. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Another instance holds the writer lock: exit 3. */
export class LockedError extends Error {
  override readonly name = 'LockedError';
  constructor(readonly holder: string, options?: { cause?: unknown }) {
    super(`another pamdrop instance holds the store lock (${holder})`, options);
  }
}
