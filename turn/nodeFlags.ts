/**
 * Node/V8 flags for the relay process (`dist/turn/main.js`): the web server forks the relay with
 * them, and `npm run bench:turn` measures it with them.
 *
 * On the native data path JavaScript runs only the control plane (STUN requests, a few per
 * allocation per minute) and the framing of TCP/TLS clients, so the relay trades JIT speed for
 * memory (measured: idle RSS 68 → 55 MB, see turn/README.md):
 * - `--lite-mode`: no optimizing compiler, so its code in the node executable is never paged in
 *   (and the control plane even costs less CPU: nothing to compile);
 * - `--max-semi-space-size=1`: a 1 MB young generation instead of up to 16 MB;
 * - `--no-expose-wasm`: lite mode turns WebAssembly off anyway (the relay uses none); saying so
 *   keeps V8 from printing a warning at every start.
 * (`--single-threaded-gc` would save two threads but costs the control plane ≈ 60 % more CPU.)
 * On the JavaScript data path every datagram runs through JavaScript: no flags (the optimizing
 * compiler and a large young generation are worth their memory there).
 */
import { existsSync } from 'node:fs';
import { nativeAddonPath } from './native/nativeDataPath.js';

/** The flags for the native data path. */
export const NATIVE_RELAY_NODE_FLAGS: readonly string[] = ['--lite-mode', '--max-semi-space-size=1', '--no-expose-wasm'];

/**
 * Flags for a relay process started with TURN_DATA_PATH `dataPath`.
 * @param dataPath  'native', 'js', or 'auto'/undefined (native when the addon file is there).
 * @returns flags to put before the script (`execArgv`).
 */
export function relayNodeFlags(dataPath: string | undefined): string[] {
  if (dataPath === 'js') return [];
  if (dataPath === 'native' || existsSync(nativeAddonPath())) return [...NATIVE_RELAY_NODE_FLAGS];
  return [];
}
