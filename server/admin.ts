/**
 * Admin API under `/api/admin`, enabled only when `ADMIN_TOKEN` is set (otherwise those paths are
 * the JSON 404 of every unknown `/api/*`). Every request needs `Authorization: Bearer <ADMIN_TOKEN>`
 * (401 otherwise). Responses are JSON with `Cache-Control: no-store`.
 *
 * - `GET    /api/admin/rooms`                      → `{rooms:[{room, members:[{socketId, polite, connected, joinedAt, heldUntil?}]}], sockets}`
 * - `GET    /api/admin/relay`                      → `{enabled, status, stats}` (stats from the child, null if unavailable)
 * - `GET    /api/admin/relay/allocations`          → `{allocations: AllocationInfo[]}` (relay sessions)
 * - `DELETE /api/admin/relay/allocations/:id`      → `{ended: true}` or 404 (ends the allocation; its relay socket closes)
 * - `DELETE /api/admin/relay/rest-users/:userId`   → `{endedAllocations}` or 404: end one seat's
 *   allocations — every allocation whose TURN REST username is `<expiry>:<userId>` (seats are named
 *   `<room>-<16 chars>`, see server/turnCredentials.ts; the usernames show in `relay/allocations`).
 * - `DELETE /api/admin/relay/users/:name`          → `{removed, endedAllocations}`: revoke a static
 *   long-term-credential user (realm TURN_REALM). With the relay running, one `revoke-user` request
 *   makes the relay remove `name` from TURN_USERS_FILE (under the file's lock, atomic rewrite) and
 *   end that user's allocations in the same step. Without a relay (disabled, or not running) the
 *   web server removes the user from the file itself (same module, same lock); the relay reads the
 *   file when it starts. 404 when the user neither was in the file nor had allocations.
 * Relay operations answer 503 when the relay is disabled/not running, 504 when it does not answer
 * and 500 when it could not do it (e.g. the users file is malformed).
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'log4js';
import type { AdminAllocationsResponse, AdminEndRestUserResponse, AdminRelayResponse, AdminRevokeUserResponse } from '../contracts/http.js';
import { REST_USER_ID_PATTERN } from './turnCredentials.js';
import { removeUser } from '../turn/index.js';
import { hasBearer } from './auth.js';
import { RelayAdminError, type RelaySupervisor } from './relaySupervisor.js';
import type { SignalingServer } from './signaling/signalingServer.js';

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
    res.status(err.kind === 'timeout' ? 504 : err.kind === 'failed' ? 500 : 503).json({ error: err.message });
    return;
  }
  throw err;
}

function enabled(relay: RelaySupervisor | undefined): RelaySupervisor {
  if (!relay) throw new RelayAdminError('relay is disabled', 'unavailable');
  return relay;
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
        res.json({ enabled: false, status: null, stats: null } satisfies AdminRelayResponse);
        return;
      }
      const stats = await relay.request('stats', {}, 1000).then(
        (r) => r.stats,
        () => null,
      );
      res.json({ enabled: true, status: relay.status(), stats } satisfies AdminRelayResponse);
    }),
  );

  router.get(
    '/relay/allocations',
    wrap(async (_req, res) => {
      try {
        const { allocations } = await enabled(relay).request('allocations', {});
        res.json({ allocations } satisfies AdminAllocationsResponse);
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
        const { ended } = await enabled(relay).request('end-allocation', { allocationId: id });
        logger.info(`admin: end allocation ${id}: ${ended ? 'ended' : 'not found'}`);
        if (ended) res.json({ ended: true });
        else res.status(404).json({ error: 'no such allocation' });
      } catch (err) {
        relayError(res, err);
      }
    }),
  );

  router.delete(
    '/relay/rest-users/:userId',
    wrap(async (req, res) => {
      const userId = String(req.params.userId);
      if (!REST_USER_ID_PATTERN.test(userId)) {
        res.status(400).json({ error: 'invalid user id (1-64 characters of A-Z a-z 0-9 _ -)' });
        return;
      }
      try {
        const { endedAllocations } = await enabled(relay).request('end-rest-user', { userId });
        logger.info(`admin: end the allocations of REST user id ${userId}: ${endedAllocations}`);
        if (endedAllocations === 0) res.status(404).json({ error: 'no allocations of this user id', endedAllocations });
        else res.json({ endedAllocations } satisfies AdminEndRestUserResponse);
      } catch (err) {
        relayError(res, err);
      }
    }),
  );

  /** Without a running relay: remove the user from the users file here (it has no allocations to end). */
  const revokeInFile = (name: string, res: Response): AdminRevokeUserResponse | undefined => {
    logger.warn(`admin: revoke ${name}: relay not running; updating ${options.usersFile} directly`);
    try {
      return { removed: removeUser(options.usersFile, name, options.realm), endedAllocations: 0 };
    } catch (err) {
      logger.error(`admin: cannot update ${options.usersFile}: ${(err as Error).message}`);
      res.status(500).json({ error: `cannot update the users file: ${(err as Error).message}` });
      return undefined;
    }
  };

  router.delete(
    '/relay/users/:name',
    wrap(async (req, res) => {
      const name = String(req.params.name);
      if (name.length === 0 || name.length > 513) {
        res.status(400).json({ error: 'invalid user name' });
        return;
      }
      let result: AdminRevokeUserResponse | undefined;
      try {
        const { removed, endedAllocations } = await enabled(relay).request('revoke-user', { name });
        result = { removed, endedAllocations };
      } catch (err) {
        if (!(err instanceof RelayAdminError) || err.kind !== 'unavailable') return relayError(res, err);
        result = revokeInFile(name, res);
      }
      if (!result) return;
      logger.info(`admin: revoked static user ${name}: removed=${result.removed} endedAllocations=${result.endedAllocations}`);
      if (!result.removed && result.endedAllocations === 0) res.status(404).json({ error: 'no such user', ...result });
      else res.json(result);
    }),
  );

  router.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return router;
}
