#!/usr/bin/env node
/**
 * `turnserver`: our relay with coturn's command line. Reads coturn's options from the command line
 * and from a coturn `turnserver.conf` (`-c FILE`; without `-c` and `-n`, `turnserver.conf` is
 * looked for where coturn looks: ., ./etc, ../etc, /etc, /usr/local/etc), translates them into the
 * TURN_* settings (coturnOptions.ts; the command line wins over the file, both over the environment
 * and `.env`) and runs the relay exactly as `npm run turn` does (turn/main.ts).
 *
 * ```
 * turnserver -n --realm=example.org --use-auth-secret --static-auth-secret=S -L 0.0.0.0 --min-port=49152
 * turnserver -c /etc/turnserver.conf
 * ```
 * coturn options this relay does not implement are logged as warnings and ignored, so a coturn
 * configuration keeps working; an option coturn does not have either, or an invalid value, prints
 * one line `turnserver: ...` and exits with code 1.
 */
import { Command, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../contracts/config.js';
import { readUsersFile, hmacKey, validateUserName, validateRealm, validateSecretText } from '../auth/usersFile.js';
import { runRelay } from '../main.js';
import { CliError, configureCommand, exitWithError } from './common.js';
import { COTURN_OPTIONS, applyOption, configKey, emptyTranslation, type CoturnOption, type Translation } from './coturnOptions.js';

const PROG = 'turnserver';
/** Where coturn looks for a relative configuration file, in order. */
const CONFIG_DIRS = ['.', 'etc', '../etc', '/etc', '/usr/local/etc'];

function version(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const p of ['../../../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(path.resolve(here, p), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (dist/turn/cli or turn/cli)
    }
  }
  return 'unknown';
}

/** The option's value as given on the command line, or undefined when absent (`--no-x` flags read `false` when given). */
function given(opts: Record<string, unknown>, o: CoturnOption): string | string[] | true | undefined {
  const opt = new Option(o.flags);
  const v = opts[opt.attributeName()];
  if (opt.negate) return v === false ? true : undefined;
  return v as string | string[] | true | undefined;
}

function buildProgram(): Command {
  const program = configureCommand(new Command(PROG), PROG)
    .description("STUN/TURN relay (RFC 8489/8656) with coturn's command line and turnserver.conf. Unsupported coturn options are ignored with a warning.")
    .version(`webrtc-call turnserver ${version()} (coturn-compatible options)`, '--version', 'print the version')
    .helpOption('-h, --help', 'this help');
  for (const o of COTURN_OPTIONS) {
    const opt = new Option(o.flags, o.help);
    if (o.many) opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    if (o.ignore) opt.hideHelp();
    program.addOption(opt);
  }
  return program;
}

/** Find the configuration file as coturn does. @returns undefined when none is found. */
function findConfig(name: string): string | undefined {
  if (path.isAbsolute(name)) return existsSync(name) ? name : undefined;
  for (const dir of CONFIG_DIRS) {
    const p = path.resolve(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Apply a turnserver.conf: `key=value`, `key value` or a bare `key` per line; `#` comments. */
function applyConfigFile(t: Translation, file: string): void {
  const byKey = new Map(COTURN_OPTIONS.flatMap((o) => (configKey(o) ? [[configKey(o)!, o] as const] : [])));
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z0-9_-]+)\s*(?:=\s*|\s+)?(.*)$/.exec(line);
    const where = `${path.basename(file)}:${i + 1}`;
    const o = m ? byKey.get(m[1]!) : undefined;
    if (!m || !o || o.cliOnly) {
      t.warnings.push(`${where}: unknown option ${JSON.stringify(m?.[1] ?? line)}: ignored`);
      return;
    }
    let value: string | true = m[2]!.trim().replace(/^"(.*)"$/, '$1');
    if (value === '') value = true;
    if (!o.flags.includes('<') && !o.flags.includes('[') && value !== true) {
      if (/^(0|false|no|off)$/i.test(value)) return;
      value = true;
    }
    applyOption(t, o, value, `${where} ${m[1]}`);
  });
}

/** Lists and derived settings; static users get their keys with the final realm. */
function finish(t: Translation): void {
  if (t.listen.length > 0) t.env.TURN_LISTEN = t.listen.join(',');
  if (t.relayIps.length > 1) throw new CliError(`--relay-ip: one relay address is supported, got ${t.relayIps.join(', ')}`);
  if (t.relayIps[0]) t.env.TURN_RELAY_IP = t.relayIps[0];
  if (t.externalIps.length > 1) throw new CliError(`--external-ip: one mapping is supported, got ${t.externalIps.join(', ')}`);
  if (t.externalIps[0]) {
    const [pub, priv, ...rest] = t.externalIps[0].split('/');
    if (rest.length > 0 || isIP(pub ?? '') === 0 || (priv !== undefined && isIP(priv) === 0)) throw new CliError(`--external-ip: expected PUBLIC or PUBLIC/PRIVATE addresses, got ${t.externalIps[0]}`);
    t.env.TURN_EXTERNAL_IP = pub!;
    if (priv && t.relayIps.length === 0) t.env.TURN_RELAY_IP = priv;
  }
  if (t.allowed.length > 0) t.env.TURN_ALLOWED_PEERS = t.allowed.join(',');
  if (t.denied.length > 0) t.env.TURN_DENIED_PEERS = t.denied.join(',');
  for (const s of t.secrets) {
    validateSecretText(s, 'secret');
    if (s.includes(',')) throw new CliError('--static-auth-secret: a secret containing "," is not supported');
  }
  if (t.secrets.length > 0) {
    t.env.TURN_SECRET = t.secrets.join(',');
    t.origin.TURN_SECRET = '--static-auth-secret';
  }
  // coturn: a static secret turns TURN REST credentials on as --use-auth-secret does.
  t.extras.restCredentials = t.useAuthSecret || t.secrets.length > 0;
}

/** Turn a settings error into the coturn option that caused it. */
function explain(err: ConfigError, t: Translation): CliError {
  let msg = err.message;
  for (const [key, name] of Object.entries(t.origin)) msg = msg.split(`${key}:`).join(`${name} (${key}):`);
  return new CliError(msg.replace(/^Invalid configuration:\s*/, 'invalid option: ').replace(/\s*See \.env\.example for every setting\.\s*$/, ''));
}

async function main(): Promise<void> {
  const program = buildProgram().parse(process.argv);
  const opts = program.opts<Record<string, unknown>>();
  const t = emptyTranslation();
  const notes: string[] = [];
  if (!opts.n) {
    const wanted = typeof opts.c === 'string' ? opts.c : 'turnserver.conf';
    const file = findConfig(wanted);
    if (!file && typeof opts.c === 'string') throw new CliError(`-c: configuration file ${wanted} not found (looked in ${CONFIG_DIRS.join(', ')})`);
    if (file) {
      applyConfigFile(t, file);
      notes.push(`configuration file ${file}`);
    }
  } else if (opts.c !== undefined) t.warnings.push('-c ignored: -n (no configuration file) given');
  for (const o of COTURN_OPTIONS) {
    const v = given(opts, o);
    if (v !== undefined && !o.cliOnly) applyOption(t, o, v, configKey(o) ? `--${configKey(o)}` : o.flags.split(' ')[0]!);
  }
  finish(t);

  // The options override the environment (and .env, which loadConfig reads without replacing set variables).
  Object.assign(process.env, t.env);
  let cfg;
  try {
    cfg = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw explain(err, t);
    throw err;
  }
  validateRealm(cfg.TURN_REALM);
  t.extras.staticUsers = t.users.map((u) => {
    validateUserName(u.name);
    const hex = /^0x([0-9a-fA-F]{32})$/.exec(u.password)?.[1];
    if (!hex) validateSecretText(u.password, 'password');
    return { name: u.name, key: hex ? hex.toLowerCase() : hmacKey(u.name, cfg.TURN_REALM, u.password) };
  });
  try {
    readUsersFile(cfg.TURN_USERS_FILE!, true);
  } catch (err) {
    throw new CliError(`${(err as Error).message} (coturn's SQLite database is not read here: add its users with turnadmin -a)`);
  }
  if (!t.extras.restCredentials && t.users.length === 0) {
    t.warnings.push(`no --user and no --use-auth-secret: only users of ${cfg.TURN_USERS_FILE} (turnadmin -a) can allocate`);
  }
  await runRelay(cfg, { ...t.extras, warnings: t.warnings, notes });
}

main().catch((err: unknown) => exitWithError(PROG, err));
