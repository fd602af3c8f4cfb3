/**
 * Admin API under `/api/admin`, enabled only when `ADMIN_TOKEN` is set (otherwise those paths are
 * the JSON 404 of every unknown `/api/*`). Every request needs `Authorization: Bearer <ADMIN_TOKEN>`
 * (401 otherwise). Responses are JSON with `Cache-Control: no-store`.
 *
 * - `GET    /api/admin/rooms`                      → `{rooms:[{room, members:[{socketId, polite, connected, joinedAt, heldUntil?}]}], sockets}`
 * - `GET    /api/admin/relay`                      → `{enabled, status, stats}` (stats from the child, null if unavailable)
 * - `GET    /api/admin/relay/allocations`          → `{allocations: AllocationInfo[]}` (relay sessions)
 * - `DELETE /api/admin/relay/allocations/:id`      → `{ended: true}` or 404 (ends the allocation; its relay socket closes)
 * - `DELETE /api/admin/relay/users/:name`          → `{removed, endedAllocations}`: revoke a static
 *   long-term-credential user: removes `name` (realm TURN_REALM) from TURN_USERS_FILE (atomic
 *   rewrite; the relay reloads the file within ~1 s) and ends that user's allocations, now and
 *   once more 1.5 s later (an allocation made before the reload). 404 when the user neither was
 *   in the file nor had allocations.
 * Relay operations answer 503 when the relay is disabled/not running and 504 when it does not answer.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'log4js';
import type { AllocationInfo } from '../turn/allocation/allocation.js';
import { readUsersFile } from '../turn/auth/userStore.js';
import { withFileLock, writeUsersFileAtomic } from '../turn/cli/usersFile.js';
import { hasBearer } from './auth.js';
import { RelayAdminError, type RelaySupervisor } from './relay.js';
import type { SignalingServer } from './signaling/signalingServer.js';

/** Delay of the second sweep of a revoked user's allocations, ms (the relay polls the users file every ~1 s). */
export const REVOKE_SECOND_SWEEP_MS = 1500;

/** Options of {@link createAdminRouter}. */
export interface AdminOptions {
  token: string;
  signaling: SignalingServer;
  relay: RelaySupervisor | undefined;
  /** Static users file (TURN_USERS_FILE) and realm (TURN_REALM). */
  usersFile: string;
  realm: string;
  logger: Logger;
}

type Handler = (req: Request, res: Response) => Promise<void> | void;

function relayError(res: Response, err: unknown): void {
  if (err instanceof RelayAdminError) {
    res.status(err.kind === 'timeout' ? 504 : 503).json({ error: err.message });
    return;
  }
  throw err;
}

/**
 * Remove a static user from the users file, under the same lock and with the same atomic write
 * (temp file, fsync, rename; mode 0600) as `turnadmin`, so a concurrent `turnadmin` edit is never lost.
 * @returns true when the user was in the file.
 * @throws Error when the file exists but is malformed, the lock cannot be taken within 5 s, or it cannot be written.
 */
export function removeStaticUser(usersFile: string, name: string, realm: string): boolean {
  return withFileLock(usersFile, () => {
    const file = readUsersFile(usersFile);
    const users = file.users.filter((u) => !(u.name === name && u.realm === realm));
    if (users.length === file.users.length) return false;
    writeUsersFileAtomic(usersFile, { ...file, users });
    return true;
  });
}

/** Build the admin router (mount at `/api/admin`). */
export function createAdminRouter(options: AdminOptions): express.Router {
  const { signaling, relay, logger } = options;
  const router = express.Router();
  const wrap =
    (h: Handler) =>
    (req: Request, res: Response, next: NextFunction): void => {
      Promise.resolve(h(req, res)).catch(next);
    };

  router.use((req, res, next) => {
    res.set('Cache-Control', 'no-store');
    if (!hasBearer(req, options.token)) {
      logger.warn(`admin: unauthorized ${req.method} ${req.originalUrl} from ${req.ip}`);
      res.status(401).set('WWW-Authenticate', 'Bearer realm="admin"').json({ error: 'unauthorized' });
      return;
    }
    next();
  });

  router.get(
    '/rooms',
    wrap(async (_req, res) => {
      // With REDIS_URL: every room of every node (read from Redis); `sockets` counts this node's.
      res.json({ rooms: await signaling.seats.snapshot(), sockets: signaling.socketCount() });
    }),
  );

  router.get(
    '/relay',
    wrap(async (_req, res) => {
      if (!relay) {
        res.json({ enabled: false, status: null, stats: null });
        return;
      }
      res.json({ enabled: true, status: relay.status(), stats: (await relay.requestStats(1000)) ?? null });
    }),
  );

  const listAllocations = async (): Promise<AllocationInfo[]> => {
    if (!relay) throw new RelayAdminError('relay is disabled', 'unavailable');
    return relay.listAllocations();
  };

  router.get(
    '/relay/allocations',
    wrap(async (_req, res) => {
      try {
        res.json({ allocations: await listAllocations() });
      } catch (err) {
        relayError(res, err);
      }
    }),
  );

  router.delete(
    '/relay/allocations/:id',
    wrap(async (req, res) => {
      const id = String(req.params.id);
      try {
        if (!relay) throw new RelayAdminError('relay is disabled', 'unavailable');
        const ended = await relay.endAllocation(id);
        logger.info(`admin: end allocation ${id}: ${ended ? 'ended' : 'not found'}`);
        if (ended) res.json({ ended: true });
        else res.status(404).json({ error: 'no such allocation' });
      } catch (err) {
        relayError(res, err);
      }
    }),
  );

  router.delete(
    '/relay/users/:name',
    wrap(async (req, res) => {
      const name = String(req.params.name);
      if (name.length === 0 || name.length > 513) {
        res.status(400).json({ error: 'invalid user name' });
        return;
      }
      let removed: boolean;
      try {
        removed = removeStaticUser(options.usersFile, name, options.realm);
      } catch (err) {
        logger.error(`admin: cannot update ${options.usersFile}: ${(err as Error).message}`);
        res.status(500).json({ error: `cannot update the users file: ${(err as Error).message}` });
        return;
      }
      const endAll = async (): Promise<number> => {
        let n = 0;
        for (const a of await listAllocations()) {
          if (a.username === name && (await relay!.endAllocation(a.id))) n++;
        }
        return n;
      };
      let endedAllocations = 0;
      try {
        endedAllocations = relay ? await endAll() : 0;
      } catch (err) {
        if (!(err instanceof RelayAdminError)) throw err;
        logger.warn(`admin: revoke ${name}: relay unavailable (${err.message}); the users file was updated`);
      }
      if (relay) {
        setTimeout(() => {
          endAll()
            .then((n) => n > 0 && logger.info(`admin: revoke ${name}: ended ${n} more allocation(s)`))
            .catch(() => undefined);
        }, REVOKE_SECOND_SWEEP_MS).unref();
      }
      logger.info(`admin: revoked static user ${name}: removed=${removed} endedAllocations=${endedAllocations}`);
      if (!removed && endedAllocations === 0) res.status(404).json({ error: 'no such user', removed, endedAllocations });
      else res.json({ removed, endedAllocations });
    }),
  );

  router.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return router;
}
