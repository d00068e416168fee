/**
 * One `FileSource` interface for every place files come from (after Camel
 * `GenericFileOperations`): list, stat, download to a local staging file, rename, remove, write. `local`
 * (node:fs), `sftp` (ssh2-sftp-client) and `ftp` (basic-ftp) implement it. Intake knows nothing about HL7: it moves bytes and
 * decides *when* a file is complete; the pipeline decides what the bytes mean.
 */

/** A regular file in a source's inbox as listed (size and modification time as the source reports them). */
export interface SourceEntry {
  name: string;
  size: number;
  /** Modification time in ms (SFTP: whole seconds). Only compared for equality, never with our clock. */
  mtimeMs: number;
}

/** What `list()` found: regular files, and names refused as unsafe (path traversal, control characters). */
export interface Listing {
  entries: SourceEntry[];
  refused: string[];
  /** Symbolic links (local sources): never followed, quarantined as they are (unfiltered, like `entries`). */
  links: string[];
}

/** Result of a download: bytes written and their SHA-256 (hex). */
export interface Download { bytes: number; sha256: string }

/** Options of FileSource.download. */
export interface DownloadOptions {
  /** Checked between chunks: true aborts the transfer (the partial file is removed). */
  shouldStop?: () => boolean;
  /** Observation hook (tests, progress): called after each chunk with the bytes received so far. */
  onChunk?: (received: number) => void;
}

/** Where files come from. */
export interface FileSource {
  readonly kind: 'local' | 'sftp' | 'ftp';
  /** For logs: a folder, or `sftp://user@host:port/dir`, `ftps://…` (never a secret). */
  readonly label: string;
  /**
   * Local sources process files where they are (the pipeline moves them to the archive). Remote sources
   * download each file to a local staging file first, and dispose of the remote file afterwards.
   */
  readonly inPlace: boolean;
  /** Start of a poll cycle: SFTP and FTP open a fresh connection (prePollCheck); local makes sure the inbox exists. */
  begin(): Promise<void>;
  /** End of a poll cycle: SFTP and FTP close the connection. Never throws. */
  end(): Promise<void>;
  /** Regular files of the inbox, unfiltered apart from unsafe names. */
  list(): Promise<Listing>;
  /** Stat of an inbox file, null when it is gone. */
  stat(name: string): Promise<SourceEntry | null>;
  /** Full path of an inbox file (local path, or remote POSIX path). */
  inboxPath(name: string): string;
  /**
   * Copies inbox file `name` to `localPath`: written to `localPath` directly (the caller renames it into
   * place), byte count checked against `expected.size`, fsynced. Throws on any mismatch or transfer error.
   */
  download(name: string, localPath: string, expected: SourceEntry, opts?: DownloadOptions): Promise<Download>;
  /** Renames a file within the source; refuses to overwrite. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; a file already gone is not an error. */
  remove(path: string): Promise<void>;
  /** Whether a path exists. */
  exists(path: string): Promise<boolean>;
  /** Stat of any path of the source (null when absent); `name` is the entry's name to report. */
  statPath(path: string, name?: string): Promise<SourceEntry | null>;
  /** Writes `dir/name` atomically: temporary name, then rename (an existing file is replaced). */
  write(dir: string, name: string, bytes: Buffer): Promise<void>;
  /**
   * Local sources: when the last listing showed `name` as the rendering of a name that is not valid UTF-8 (names.ts),
   * renames the file to that rendering and returns the original bytes; null when there was nothing to rename.
   */
  adopt?(name: string): Promise<Buffer | null>;
}

/** Refused file names: path separators, `..`, control characters (a hostile server could send anything). */
export function unsafeName(name: string): string | null {
  if (name === '' || name === '.' || name === '..') return 'empty or a directory reference';
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator';
  if (name.includes('..')) return 'contains ".."';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return 'contains a control character';
  // The SFTP client reads names as UTF-8: other bytes arrive as U+FFFD, a name that cannot be asked for again.
  if (name.includes('\uFFFD')) return 'not valid UTF-8 (rename it on the server)';
  if (name.length > 255) return 'longer than 255 characters';
  return null;
}

/** Cause of an intake failure that is about the connection or the transfer, not about a file's content. */
export class IntakeError extends Error {
  override readonly name: string = 'IntakeError';
  constructor(message: string, readonly code?: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The server's host key is not one of the pinned fingerprints (or none is pinned): we refuse to connect. */
export class HostKeyError extends IntakeError {
  override readonly name = 'HostKeyError';
  constructor(message: string, readonly offered: string) {
    super(message, 'HOSTKEY');
  }
}

/** Where ACK files go. The local sink writes temp + rename (pipeline/files.ts); an SFTP sink also uploads. */
export interface AckSink {
  /** Writes every ACK atomically; entries of one call may be written in any order. */
  write(entries: ReadonlyArray<{ name: string; bytes: Buffer }>): Promise<void>;
}

/** What intake needs of a remote source (SFTP, FTP) beyond FileSource: where ACKs go, what happens to a taken file. */
export interface RemoteSource extends FileSource {
  readonly settings: { remoteAckDir?: string; remoteArchiveDir?: string; afterProcessing?: 'archive' | 'delete' };
  /** Writes every file of a batch into `dir` as `write` does, in any order, several at once as the protocol allows. */
  writeMany(dir: string, entries: ReadonlyArray<{ name: string; bytes: Buffer }>): Promise<void>;
}

/** ACK files uploaded to a remote source's ACK folder, a batch at a time (RemoteSource.writeMany). */
export class RemoteAckSink implements AckSink {
  constructor(private readonly src: Pick<RemoteSource, 'writeMany'>, private readonly dir: string) {}
  write(entries: ReadonlyArray<{ name: string; bytes: Buffer }>): Promise<void> { return this.src.writeMany(this.dir, entries); }
}

/** The server's TLS certificate is not trusted (unknown authority, wrong name, not the pinned one): we refuse to log in. */
export class CertificateError extends IntakeError {
  override readonly name = 'CertificateError';
  constructor(message: string, readonly offered: string | null) {
    super(message, 'CERT');
  }
}
