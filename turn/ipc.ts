/**
 * The relay child's side of the relay IPC (`contracts/relayIpc.ts`): answers the parent's requests
 * and sends the child's log records to the parent as structured `log` messages.
 */
import { format } from 'node:util';
import type { AppenderModule, LoggingEvent } from 'log4js';
import { LOG_LEVELS, type RelayChildMessage, type RelayLogLevel, type RelayReply, type RelayRequest, type RelayRequestFailed } from '../contracts/relayIpc.js';
import type { TurnServer } from './turnServer.js';

/**
 * Send a message to the parent, if there is one.
 * @returns resolves once the message is handed to the IPC channel (or at once without a parent).
 */
export function sendToParent(m: RelayChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    try {
      process.send(m, undefined, {}, () => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * Carry out one request of the parent.
 * @returns the reply with the request's id, or a `failed` reply naming the error (e.g. a locked users file).
 */
export function answerRequest(relay: TurnServer, req: RelayRequest): RelayReply | RelayRequestFailed {
  try {
    switch (req.type) {
      case 'stats':
        return { id: req.id, type: 'stats', stats: relay.stats() };
      case 'allocations':
        return { id: req.id, type: 'allocations', allocations: relay.listAllocations() };
      case 'end-allocation':
        return { id: req.id, type: 'end-allocation', ended: relay.endAllocation(req.allocationId) };
      case 'revoke-user':
        return { id: req.id, type: 'revoke-user', ...relay.revokeUser(req.name) };
      case 'end-rest-user':
        return { id: req.id, type: 'end-rest-user', endedAllocations: relay.endRestUser(req.userId) };
    }
  } catch (err) {
    return { id: req.id, type: 'failed', request: req.type, message: (err as Error).message };
  }
}

/** log4js level name → IPC level (MARK and anything unknown count as info). */
function levelOf(event: LoggingEvent): RelayLogLevel {
  const l = event.level.levelStr.toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(l) ? (l as RelayLogLevel) : 'info';
}

/** A log4js appender that sends every record to the parent as `{type:'log', level, category, message}`. */
export const ipcAppender: AppenderModule = {
  configure: () => (event: LoggingEvent) => {
    void sendToParent({ type: 'log', level: levelOf(event), category: event.categoryName, message: format(...(event.data as unknown[])) });
  },
};
