/**
 * The JSON export of a test session: servers (passwords redacted), options, candidate rows,
 * candidate errors, verdicts, the relay test, the browser's user agent and the time. Pure
 * functions, no DOM (the page turns the text into a download).
 */
import { render } from '../i18n/index.js';
import type { CandidateErrorRow, CandidateRow } from './candidates.js';
import type { EntryProgress } from './gather.js';
import type { RelayTestResult } from './relayTest.js';
import type { Options, ServerEntry } from './store.js';
import type { Verdict } from './verdict.js';

/** Replaces every password in the export. */
export const REDACTED = '(redacted)';

/** Shape of the exported file (`format: 'trickle-ice-report/1'`). */
export interface Report {
  format: 'trickle-ice-report/1';
  /** ISO 8601 time of the export. */
  time: string;
  userAgent: string;
  /** Page the report was made on. */
  page: string;
  servers: { urls: string[]; username?: string; credential?: string; origin: string }[];
  options: Options;
  gathering: {
    /** ISO 8601 start time, or null when gathering never ran. */
    startedAt: string | null;
    durationMs: number | null;
    entries: EntryProgress[];
    rows: CandidateRow[];
    errors: CandidateErrorRow[];
    verdicts: Verdict[];
  };
  /** The relay test, its summary as text in the page's language. */
  relayTest: (Omit<RelayTestResult, 'summary'> & { summary: string }) | null;
}

/** Inputs of {@link buildReport}. */
export interface ReportInput {
  servers: ServerEntry[];
  options: Options;
  gathering?: { startedAt: number; durationMs: number | null; entries: EntryProgress[]; rows: CandidateRow[]; errors: CandidateErrorRow[]; verdicts: Verdict[] };
  relayTest?: RelayTestResult | null;
  userAgent: string;
  page: string;
  now?: Date;
}

/** Build the report; passwords are replaced by {@link REDACTED} (usernames stay: REST usernames are not secret). */
export function buildReport(input: ReportInput): Report {
  const g = input.gathering;
  return {
    format: 'trickle-ice-report/1',
    time: (input.now ?? new Date()).toISOString(),
    userAgent: input.userAgent,
    page: input.page,
    servers: input.servers.map((s) => {
      const out: Report['servers'][number] = { urls: [...s.urls], origin: s.origin };
      if (s.username !== undefined) out.username = s.username;
      if (s.credential) out.credential = REDACTED;
      return out;
    }),
    options: { ...input.options },
    gathering: {
      startedAt: g ? new Date(g.startedAt).toISOString() : null,
      durationMs: g?.durationMs ?? null,
      entries: g?.entries ?? [],
      rows: g?.rows ?? [],
      errors: g?.errors ?? [],
      verdicts: g?.verdicts ?? [],
    },
    relayTest: input.relayTest ? { ...input.relayTest, summary: render(input.relayTest.summary) } : null,
  };
}

/** File name for a report made at `now`: `trickle-ice-20260101T120000Z.json`. */
export function reportFileName(now = new Date()): string {
  return `trickle-ice-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`;
}
