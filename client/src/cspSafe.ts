/**
 * Imported first by the call page's entry, before any module that builds zod schemas: the page's
 * Content-Security-Policy has no 'unsafe-eval', so zod must not probe `new Function` to compile its
 * fast path (Firefox reports the blocked probe as a page error on every load; Chromium blocks it
 * silently). Validation is the same without that fast path.
 */
import { config } from 'zod';

config({ jitless: true });
