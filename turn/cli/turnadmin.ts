#!/usr/bin/env node
/**
 * `turnadmin`: manage the relay's static users and TURN REST shared secrets in the users file
 * (`TURN_USERS_FILE`, default `<DATA_DIR>/turn-users.json`; `--file` overrides), and mint TURN REST
 * credentials. The running relay re-reads the file when it changes (no restart). The file is read
 * and written through `turn/auth/usersFile.ts` (lock + atomic write), as the relay and the admin API do.
 *
 * ```
 * turnadmin add-user -u NAME -p PASSWORD [-r REALM]   # realm default TURN_REALM (webrtc-call)
 * turnadmin delete-user -u NAME [-r REALM]
 * turnadmin list-users [--json]
 * turnadmin add-secret SECRET                         # newest first; all stay valid (rotation)
 * turnadmin list-secrets [--json]
 * turnadmin remove-secret SECRET
 * turnadmin mint -u USERID [--ttl SECONDS] [--secret S]
 * ```
 * Errors print one line `turnadmin: ...` and exit with code 1.
 */
import { Command } from 'commander';
import path from 'node:path';
import { makeRestCredential } from '../auth/restCredentials.js';
import { loadOrCreateSecrets } from '../auth/secretStore.js';
import { hmacKey, readUsersFile, updateUsersFile, validateRealm, validateSecretText, validateUserName } from '../auth/usersFile.js';
import { CliError, exitWithError, intArg, loadCliConfig } from './common.js';

const PROG = 'turnadmin';

interface GlobalOptions {
  file?: string;
}

/** The users file path: `--file`, else TURN_USERS_FILE / `<DATA_DIR>/turn-users.json` from the env. */
function usersFilePath(cmd: Command): string {
  const { file } = cmd.optsWithGlobals<GlobalOptions>();
  if (file !== undefined) return path.resolve(file);
  const config = loadCliConfig();
  return config.TURN_USERS_FILE ?? path.join(config.DATA_DIR, 'turn-users.json');
}

function buildProgram(): Command {
  const program = new Command(PROG)
    .description('Manage static TURN users and TURN REST shared secrets of the embedded relay; mint REST credentials.')
    .option('-f, --file <path>', 'users file (default: TURN_USERS_FILE, else <DATA_DIR>/turn-users.json)')
    .showSuggestionAfterError(true);

  program
    .command('add-user')
    .description('add a long-term-credential user (stores MD5(name:realm:password), never the password)')
    .requiredOption('-u, --user <name>', 'user name')
    .requiredOption('-p, --password <password>', 'password')
    .option('-r, --realm <realm>', 'realm (default: TURN_REALM, else webrtc-call)')
    .action((opts: { user: string; password: string; realm?: string }, cmd: Command) => {
      const file = usersFilePath(cmd);
      const relayRealm = loadCliConfig().TURN_REALM;
      const realm = opts.realm ?? relayRealm;
      validateUserName(opts.user);
      validateRealm(realm);
      validateSecretText(opts.password, 'password');
      updateUsersFile(file, true, (data) => {
        if (data.users.some((u) => u.name === opts.user && u.realm === realm)) {
          throw new CliError(`user ${JSON.stringify(opts.user)} already exists in realm ${JSON.stringify(realm)} (delete-user first to change the password)`);
        }
        data.users.push({ name: opts.user, realm, key: hmacKey(opts.user, realm, opts.password) });
      });
      console.log(`added user ${opts.user} (realm ${realm}) to ${file}`);
      if (realm !== relayRealm) console.error(`${PROG}: warning: realm ${realm} differs from TURN_REALM ${relayRealm}; the relay only accepts users of its own realm`);
    });

  program
    .command('delete-user')
    .description('delete a user')
    .requiredOption('-u, --user <name>', 'user name')
    .option('-r, --realm <realm>', 'realm (default: TURN_REALM, else webrtc-call)')
    .action((opts: { user: string; realm?: string }, cmd: Command) => {
      const file = usersFilePath(cmd);
      const realm = opts.realm ?? loadCliConfig().TURN_REALM;
      validateRealm(realm);
      updateUsersFile(file, false, (data) => {
        const i = data.users.findIndex((u) => u.name === opts.user && u.realm === realm);
        if (i < 0) throw new CliError(`unknown user ${JSON.stringify(opts.user)} in realm ${JSON.stringify(realm)}`);
        data.users.splice(i, 1);
      });
      console.log(`deleted user ${opts.user} (realm ${realm}) from ${file}`);
    });

  program
    .command('list-users')
    .description('list users as "name<TAB>realm" lines (keys are not printed)')
    .option('--json', 'print a JSON array of {name, realm}')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const data = readUsersFile(usersFilePath(cmd), false);
      const users = data.users.map((u) => ({ name: u.name, realm: u.realm }));
      if (opts.json) console.log(JSON.stringify(users));
      else for (const u of users) console.log(`${u.name}\t${u.realm}`);
    });

  program
    .command('add-secret')
    .description('add a TURN REST shared secret (put first: used by mint; older ones stay valid until removed)')
    .argument('<secret>', 'the shared secret')
    .action((secret: string, _opts: unknown, cmd: Command) => {
      validateSecretText(secret, 'secret');
      const file = usersFilePath(cmd);
      updateUsersFile(file, true, (data) => {
        if (data.secrets.some((s) => s.value === secret)) throw new CliError('secret already exists');
        data.secrets.unshift({ value: secret, added: new Date().toISOString() });
      });
      console.log(`added secret to ${file}`);
    });

  program
    .command('list-secrets')
    .description('list shared secrets, newest first, as "secret<TAB>added" lines')
    .option('--json', 'print the JSON array of {value, added}')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const data = readUsersFile(usersFilePath(cmd), false);
      if (opts.json) console.log(JSON.stringify(data.secrets));
      else for (const s of data.secrets) console.log(`${s.value}\t${s.added}`);
    });

  program
    .command('remove-secret')
    .description('remove a shared secret (credentials minted with it stop working)')
    .argument('<secret>', 'the shared secret')
    .action((secret: string, _opts: unknown, cmd: Command) => {
      const file = usersFilePath(cmd);
      updateUsersFile(file, false, (data) => {
        const i = data.secrets.findIndex((s) => s.value === secret);
        if (i < 0) throw new CliError('unknown secret');
        data.secrets.splice(i, 1);
      });
      console.log(`removed secret from ${file}`);
    });

  program
    .command('mint')
    .description('print a TURN REST credential {username, password, ttl} as JSON')
    .requiredOption('-u, --user <userid>', 'user id (no ":")')
    .option('-t, --ttl <seconds>', 'lifetime in seconds (default: TURN_CREDENTIAL_TTL, else 86400)', intArg(1, 10 * 365 * 86_400))
    .option('-s, --secret <secret>', 'shared secret (default: first of TURN_SECRET, else of the users file, else <DATA_DIR>/turn-secret)')
    .action((opts: { user: string; ttl?: number; secret?: string }, cmd: Command) => {
      const secret = opts.secret ?? defaultSecret(cmd);
      let cred;
      try {
        cred = makeRestCredential(secret, opts.user, opts.ttl ?? loadCliConfig().TURN_CREDENTIAL_TTL);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      console.log(JSON.stringify(cred));
    });

  return program;
}

/** Mint's secret: first of TURN_SECRET, else the users file's newest secret, else `<DATA_DIR>/turn-secret` (created if missing, as the relay does). */
function defaultSecret(cmd: Command): string {
  const config = loadCliConfig();
  if (config.TURN_SECRET && config.TURN_SECRET.length > 0) return config.TURN_SECRET[0]!;
  const fromFile = readUsersFile(usersFilePath(cmd), true).secrets[0];
  if (fromFile) return fromFile.value;
  return loadOrCreateSecrets(undefined, config.DATA_DIR)[0]!;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  exitWithError(PROG, err);
}
