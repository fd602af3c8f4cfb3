/** The allocation lifetime rule shared by Allocate and Refresh. */
import type { ResolvedTurnOptions } from '../options.js';

/**
 * Lifetime to grant (RFC 8656 §7.2, §7.3): the requested LIFETIME clamped to [default, max].
 * @param requested  LIFETIME attribute value, seconds, or undefined when absent.
 * @returns seconds.
 */
export function grantedLifetime(options: Pick<ResolvedTurnOptions, 'defaultLifetime' | 'maxLifetime'>, requested: number | undefined): number {
  if (requested === undefined) return options.defaultLifetime;
  return Math.max(options.defaultLifetime, Math.min(requested, options.maxLifetime));
}
