/** Embedded defaults: ./inbox, ./outbox, ./archive/YYYY/MM/DD, ./archive/error, ./data/pamdrop.sqlite. */
import { defaultPamOptions } from '../pam/types.js';
import type { ListenerConfig, ResolvedConfig, SourceConfig } from './types.js';

export const DEFAULT_IGNORE = ['.*', '*.tmp', '*.part', '*.filepart'];

export const getDefaultSource = (): SourceConfig => ({
  name: 'local',
  type: 'local',
  inbox: 'inbox',
  ackDir: 'outbox',
  archiveDir: 'archive',
  errorDir: 'archive/error',
  pattern: '*',
  ignore: [...DEFAULT_IGNORE],
  sort: 'name',
  stableMs: 2000,
  minBytes: 8,
  pollMs: 5000,
  doneMarker: null,
  expectEveryMs: null,
});

/** An MLLP listener's defaults: loopback, plain, 1 MiB messages, 10 minutes idle, 16 connections, no journal. */
export const getDefaultListener = (name: string, port: number): ListenerConfig => ({
  name,
  port,
  host: '127.0.0.1',
  tls: null,
  allowPlain: false,
  maxMessageBytes: 1024 * 1024,
  idleTimeoutMs: 600_000,
  maxConnections: 16,
  journalDir: null,
});

export const getDefaultConfig = (): ResolvedConfig => ({
  database: 'data/pamdrop.sqlite',
  sqliteDriver: 'better-sqlite3',
  self: { app: 'PAMDROP', facility: 'PAMDROP' },
  pam: defaultPamOptions(),
  charset: { default: '8859/15', latin1AsCp1252: false },
  order: 'file',
  staleUpdates: 'skip',
  groupSize: 2000,
  pgGroupMode: 'batched',
  maxMessageBytes: 16 * 1024 * 1024,
  maxFileBytes: 2 * 1024 * 1024 * 1024,
  sources: [getDefaultSource()],
  listeners: [],
  retention: { archiveDays: null, receivedDays: null, remoteAckDays: null, pruneEveryHours: 24 },
  log: { level: 'info', format: 'auto' },
  lockTtlMs: 60_000,
  httpPort: null,
  httpHost: '127.0.0.1',
  httpAllowRemote: false,
  showIdentities: false,
  httpMaxConnections: 64,
  httpHeadersTimeoutMs: 10_000,
  httpRequestTimeoutMs: 30_000,
  httpKeepAliveTimeoutMs: 5_000,
});
