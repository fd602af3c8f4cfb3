/**
 * What `turnadmin` does, shared by its two spellings (our subcommands and coturn's flags): static
 * users in the users file, the TURN REST secret set (auth/secretStore.ts: the one list the web
 * server, the relay and `turnadmin` read) and credential minting. Every edit goes through the users
 * file's lock and atomic write (auth/usersFile.ts), so the running relay and web server see a change
 * within a second and never half of one.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Env } from '../../contracts/config.js';
import { makeRestCredential, type RestCredential } from '../auth/restCredentials.js';
import { MIN_SECRET_LENGTH, maskSecret, readSecretSet, removeGeneratedSecret, secretId, type SecretEntry, type SecretSetLocation } from '../auth/secretStore.js';
import { hmacKey, readUsersFile, updateUsersFile, validateRealm, validateSecretText, validateUserName, withFileLock, writeUsersFileAtomic } from '../auth/usersFile.js';
import { CliError } from './common.js';

/** Where an admin command works: the users file and the settings around it. */
export interface AdminContext {
  /** Users file path (absolute). */
  file: string;
  cfg: Env;
  /** Print a line to stdout. */
  out: (line: string) => void;
  /** Print a warning line to stderr. */
  warn: (line: string) => void;
}

/**
 * The users file to work on: `--file`/`-b` (unless it is the relay's own file, its directory must
 * exist: a typo never creates a file the relay does not read), else TURN_USERS_FILE (default
 * `<DATA_DIR>/turn-users.json`).
 * @returns the absolute path and, when it is not the relay's file, a warning to print.
 * @throws CliError when the directory of an explicit file does not exist.
 */
export function resolveUsersFile(explicit: string | undefined, cfg: Env): { file: string; warning?: string } {
  const relayFile = cfg.TURN_USERS_FILE ?? path.join(cfg.DATA_DIR, 'turn-users.json');
  if (explicit === undefined) return { file: relayFile };
  const file = path.resolve(explicit);
  const dir = path.dirname(file);
  if (file === relayFile) return { file };
  if (!existsSync(dir)) throw new CliError(`directory ${dir} does not exist (users file ${file}); the relay reads ${relayFile}`);
  return { file, warning: `note: the relay reads ${relayFile} (TURN_USERS_FILE); ${file} is another file` };
}

function location(ctx: AdminContext): SecretSetLocation {
  return { configured: ctx.cfg.TURN_SECRET, dataDir: ctx.cfg.DATA_DIR, usersFile: ctx.file };
}

/**
 * Add a static user; `update` replaces the key of an existing one (coturn `-a` adds or updates).
 * @throws UsersFileError for a bad name/realm/password; CliError when the user exists and `update` is false.
 */
export function addUser(ctx: AdminContext, name: string, password: string, realm: string | undefined, update: boolean): void {
  const r = realm ?? ctx.cfg.TURN_REALM;
  validateUserName(name);
  validateRealm(r);
  validateSecretText(password, 'password');
  const key = hmacKey(name, r, password);
  const existed = updateUsersFile(ctx.file, true, (data) => {
    const u = data.users.find((x) => x.name === name && x.realm === r);
    if (u && !update) throw new CliError(`user ${JSON.stringify(name)} already exists in realm ${JSON.stringify(r)} (delete-user first to change the password)`);
    if (u) u.key = key;
    else data.users.push({ name, realm: r, key });
    return u !== undefined;
  });
  ctx.out(`${existed ? 'updated' : 'added'} user ${name} (realm ${r}) in ${ctx.file}`);
  if (r !== ctx.cfg.TURN_REALM) ctx.warn(`warning: realm ${r} differs from TURN_REALM ${ctx.cfg.TURN_REALM}; the relay only accepts users of its own realm`);
}

/** Delete a static user. @throws CliError when there is no such user; UsersFileError (missing file, bad realm). */
export function deleteUser(ctx: AdminContext, name: string, realm: string | undefined): void {
  const r = realm ?? ctx.cfg.TURN_REALM;
  validateRealm(r);
  updateUsersFile(ctx.file, false, (data) => {
    const i = data.users.findIndex((u) => u.name === name && u.realm === r);
    if (i < 0) throw new CliError(`unknown user ${JSON.stringify(name)} in realm ${JSON.stringify(r)}`);
    data.users.splice(i, 1);
  });
  ctx.out(`deleted user ${name} (realm ${r}) from ${ctx.file}`);
}

/** Users of the file (keys never printed). @throws UsersFileError when the file is missing or malformed. */
export function listUsers(ctx: AdminContext): Array<{ name: string; realm: string }> {
  return readUsersFile(ctx.file, false).users.map((u) => ({ name: u.name, realm: u.realm }));
}

/**
 * Add a secret to the set (newest: new credentials are signed with it from now on).
 * @throws CliError when shorter than {@link MIN_SECRET_LENGTH} or already in use; UsersFileError.
 */
export function addSecret(ctx: AdminContext, secret: string): void {
  validateSecretText(secret, 'secret');
  if (secret.length < MIN_SECRET_LENGTH) throw new CliError(`secret too short: at least ${MIN_SECRET_LENGTH} characters (e.g. "$(openssl rand -base64 32)")`);
  updateUsersFile(ctx.file, true, (data) => {
    if (readSecretSet({ ...location(ctx), usersFile: undefined }).some((e) => e.value === secret) || data.secrets.some((s) => s.value === secret)) {
      throw new CliError('secret already exists');
    }
    data.secrets.unshift({ value: secret, added: new Date().toISOString() });
  });
  ctx.out(`added secret ${secretId(secret)} to ${ctx.file}: new credentials are signed with it within a second; older secrets stay valid until removed`);
}

/** One line of `list-secrets`: id, masked value, where it comes from, when it was added. */
export interface SecretListing {
  id: string;
  masked: string;
  source: SecretEntry['source'];
  added: string | null;
  /** True for the secret new credentials are signed with. */
  newest: boolean;
}

/** Every secret in use, newest first, masked. @throws UsersFileError when the users file is malformed. */
export function listSecrets(ctx: AdminContext): SecretListing[] {
  return readSecretSet(location(ctx)).map((e, i) => ({ id: secretId(e.value), masked: maskSecret(e.value), source: e.source, added: e.added ?? null, newest: i === 0 }));
}

/** Print {@link listSecrets} as aligned text lines. */
export function printSecrets(ctx: AdminContext, list: SecretListing[]): void {
  if (list.length === 0) ctx.out('no TURN REST secrets in use (the web server or relay generates one at start)');
  for (const s of list) {
    const where = s.source === 'added' ? `added ${s.added}` : s.source === 'configured' ? 'TURN_SECRET' : `generated ${s.added} (${path.join(ctx.cfg.DATA_DIR, 'turn-secret')})`;
    ctx.out(`${s.id}  ${s.masked.padEnd(18)}  ${where}${s.newest ? '  <- signs new credentials' : ''}`);
  }
}

/**
 * Remove a secret from the set by value or id: credentials it signed stop working within a second.
 * @throws CliError when unknown, configured in TURN_SECRET, or the last one in use.
 */
export function removeSecret(ctx: AdminContext, valueOrId: string): void {
  if (!existsSync(ctx.file) && !existsSync(path.join(ctx.cfg.DATA_DIR, 'turn-secret'))) readUsersFile(ctx.file, false);
  const removed = withFileLock(ctx.file, () => {
    const set = readSecretSet(location(ctx));
    const e = set.find((x) => x.value === valueOrId) ?? set.find((x) => secretId(x.value) === valueOrId.toLowerCase());
    if (!e) throw new CliError('unknown secret (turnadmin list-secrets shows the ids of those in use)');
    const id = secretId(e.value);
    if (e.source === 'configured') {
      throw new CliError(`secret ${id} is set in TURN_SECRET (environment or .env), which turnadmin does not edit: remove it there and restart the server and relay`);
    }
    if (set.length === 1) throw new CliError(`secret ${id} is the only one in use: add a new one first (turnadmin add-secret "$(openssl rand -base64 32)")`);
    if (e.source === 'generated') removeGeneratedSecret(ctx.cfg.DATA_DIR, e.value);
    else {
      const data = readUsersFile(ctx.file, false);
      data.secrets = data.secrets.filter((s) => s.value !== e.value);
      writeUsersFileAtomic(ctx.file, data);
    }
    return e;
  });
  ctx.out(`removed secret ${secretId(removed.value)} (${removed.source}): credentials signed with it stop working within a second`);
}

/**
 * Mint a TURN REST credential exactly as `GET /api/ice-servers` does: the newest secret of the set
 * (generated if the set is empty, as the web server would), TURN_CREDENTIAL_TTL, a random 12-hex user id.
 * @throws CliError for a bad user id or ttl.
 */
export function mint(ctx: AdminContext, userId: string | undefined, ttl: number | undefined, secret: string | undefined): RestCredential {
  const s = secret ?? readSecretSet(location(ctx), { create: true })[0]!.value;
  try {
    return makeRestCredential(s, userId ?? randomBytes(6).toString('hex'), ttl ?? ctx.cfg.TURN_CREDENTIAL_TTL);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
