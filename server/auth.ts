/**
 * Bearer-token checks for `/metrics` (`METRICS_TOKEN`) and the admin API (`ADMIN_TOKEN`).
 * Tokens are compared in constant time (SHA-256 of both sides, `timingSafeEqual`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * True when the request carries `Authorization: Bearer <token>` with exactly `token`.
 * @param token  the configured token (non-empty).
 */
export function hasBearer(req: Request, token: string): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return false;
  const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
  if (!m) return false;
  return timingSafeEqual(digest(m[1]!), digest(token));
}
