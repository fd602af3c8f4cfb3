/**
 * The tester token (`ICE_TOKEN`) the trickle-ICE page sends to `GET /api/ice-servers`.
 *
 * Given in the page's URL fragment (`/trickle-ice.html#token=XYZ`: a fragment never reaches the
 * server or a proxy's access log) or typed into `#iceToken`. Kept in `sessionStorage` (this tab
 * only, gone when it closes), and taken out of the address bar at once so it is not shared by
 * copying the URL or left in the history.
 */

/** sessionStorage key of the token. */
export const TOKEN_STORAGE_KEY = 'trickle-ice.token';

/** The `token` parameter of a URL fragment like `#token=XYZ` (also `#a=b&token=XYZ`), or undefined. */
export function tokenFromFragment(hash: string): string | undefined {
  const v = new URLSearchParams(hash.replace(/^#/, '')).get('token')?.trim();
  return v ? v.slice(0, 512) : undefined;
}

/** The fragment without its `token` parameter ('' when nothing else is left). */
export function fragmentWithoutToken(hash: string): string {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  p.delete('token');
  const rest = p.toString();
  return rest ? `#${rest}` : '';
}

/** Read a stored token (undefined when none or storage is disabled). */
export function storedToken(storage: Pick<Storage, 'getItem'>): string | undefined {
  try {
    return storage.getItem(TOKEN_STORAGE_KEY) || undefined;
  } catch {
    return undefined;
  }
}

/** Store (or, for an empty token, forget) the token; storage errors are ignored. */
export function storeToken(storage: Pick<Storage, 'setItem' | 'removeItem'>, token: string | undefined): void {
  try {
    if (token) storage.setItem(TOKEN_STORAGE_KEY, token);
    else storage.removeItem(TOKEN_STORAGE_KEY);
  } catch {
    /* storage disabled: the token lives as long as the page */
  }
}
