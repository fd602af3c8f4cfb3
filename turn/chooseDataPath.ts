/**
 * Which data path relays (option `dataPath`, TURN_DATA_PATH): `native` (the addon, turn/native),
 * `js` (Node's dgram sockets), or `auto` (the default: native when the addon loads, else the
 * JavaScript path). The choice is logged in one line; a fallback line says why.
 */
import type { DataPath, DataPathDeps } from './dataPath.js';
import { JsDataPath } from './jsDataPath.js';
import type { TurnLogger } from './logger.js';
import { createNativeAdapter } from './native/adapter.js';

/** The `dataPath` option. */
export type DataPathChoice = 'native' | 'js' | 'auto';

/**
 * Create the data path for `choice` and log one line about it.
 * @param threads  native worker threads (0 = one per CPU, at most 8).
 * @throws Error when `native` was asked for and the addon is unavailable (the reason is in the message).
 */
export function chooseDataPath(choice: DataPathChoice, deps: DataPathDeps, threads: number, log: TurnLogger): DataPath {
  if (choice === 'js') {
    log.info('data path: JavaScript (configured)');
    return new JsDataPath(deps);
  }
  const native = createNativeAdapter(deps, { threads });
  if ('reason' in native) {
    if (choice === 'native') throw new Error(`native data path unavailable: ${native.reason}`);
    log.warn(`data path: JavaScript, because the native data path is unavailable: ${native.reason}`);
    return new JsDataPath(deps, native.reason);
  }
  log.info(`data path: native (${native.info.threads} worker thread${native.info.threads === 1 ? '' : 's'})`);
  return native;
}
