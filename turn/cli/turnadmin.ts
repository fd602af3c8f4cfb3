#!/usr/bin/env node
/**
 * `turnadmin`: manage the relay's static users and the TURN REST secret set, and mint TURN REST
 * credentials. The users file is `TURN_USERS_FILE` (default `<DATA_DIR>/turn-users.json`; `-f`/`-b`
 * override); the running relay and web server apply changes within a second. Two spellings:
 *
 * ```
 * turnadmin add-user -u NAME -p PASSWORD [-r REALM]     turnadmin -a -u NAME -r REALM -p PASSWORD   (add or update)
 * turnadmin delete-user -u NAME [-r REALM]              turnadmin -d -u NAME -r REALM
 * turnadmin list-users [--json]                         turnadmin -l
 *                                                       turnadmin -k -u NAME -r REALM -p PASSWORD   (print the key)
 * turnadmin add-secret SECRET                           turnadmin -s SECRET   (--set-secret, --secret)
 * turnadmin list-secrets [--json]                       turnadmin -S
 * turnadmin remove-secret SECRET|ID                     turnadmin -X SECRET|ID
 * turnadmin mint [-u USERID] [--ttl SECONDS] [--secret S]
 * ```
 * coturn's web-admin users (`-A`, `-D`, `-L`) have no counterpart: the admin API uses ADMIN_TOKEN.
 * Errors print one line `turnadmin: ...` and exit with code 1.
 */
import { Command, Option } from 'commander';
import { hmacKey, validateRealm, validateSecretText, validateUserName } from '../auth/usersFile.js';
import { addSecret, addUser, deleteUser, listSecrets, listUsers, mint, printSecrets, removeSecret, resolveUsersFile, type AdminContext } from './adminActions.js';
import { CliError, configureCommand, exitWithError, intArg, loadCliConfig } from './common.js';

const PROG = 'turnadmin';
/** Notes printed after a successful run (an error prints its one line only). */
const notes: string[] = [];

/** The context of one run: settings, the users file (`-f`/`-b` anywhere on the line), output. */
function context(cmd: Command): AdminContext {
  const o = cmd.optsWithGlobals<{ file?: string; db?: string; userdb?: string }>();
  const cfg = loadCliConfig();
  const { file, warning } = resolveUsersFile(o.file ?? o.db ?? o.userdb, cfg);
  const ctx: AdminContext = { file, cfg, out: (l) => console.log(l), warn: (l) => console.error(`${PROG}: ${l}`) };
  if (warning && !notes.includes(warning)) notes.push(warning);
  return ctx;
}

/** `-f FILE` and its coturn spelling `-b`/`--db`/`--userdb`, accepted before or after a subcommand. */
function fileOptions(cmd: Command): Command {
  return cmd
    .option('-f, --file <path>', 'users file (default: TURN_USERS_FILE, else <DATA_DIR>/turn-users.json); its directory must exist')
    .addOption(new Option('-b, --db <path>', 'same as --file (coturn spelling)'))
    .addOption(new Option('--userdb <path>', 'same as --file (coturn spelling)').hideHelp());
}

interface CoturnForm {
  key?: boolean;
  add?: boolean;
  addAdmin?: boolean;
  delete?: boolean;
  deleteAdmin?: boolean;
  list?: boolean;
  listAdmin?: boolean;
  setSecret?: string;
  secret?: string;
  showSecret?: boolean;
  deleteSecret?: string;
  user?: string;
  realm?: string;
  password?: string;
}

function need<T>(v: T | undefined, what: string, command: string): T {
  if (v === undefined) throw new CliError(`${command} needs ${what}`);
  return v;
}

/** coturn's spelling: exactly one command flag with -u/-r/-p as coturn's turnadmin takes them. */
function runCoturnForm(o: CoturnForm, cmd: Command): void {
  if (o.addAdmin || o.deleteAdmin || o.listAdmin) {
    throw new CliError('web-admin users (-A, -D, -L) are not supported: the admin API uses a bearer token (ADMIN_TOKEN, see README "Operating it")');
  }
  const setSecret = o.setSecret ?? o.secret;
  const commands = [o.key, o.add, o.delete, o.list, setSecret !== undefined, o.showSecret, o.deleteSecret !== undefined].filter(Boolean).length;
  if (commands === 0) {
    cmd.outputHelp({ error: true });
    throw new CliError('no command given (a subcommand such as add-user, or one of -a -d -l -k -s -S -X)');
  }
  if (commands > 1) throw new CliError('give one command at a time (one of -a -d -l -k -s -S -X)');
  if (o.key) {
    const [user, realm, password] = [need(o.user, '-u USER', '-k'), need(o.realm, '-r REALM', '-k'), need(o.password, '-p PASSWORD', '-k')];
    validateUserName(user);
    validateRealm(realm);
    validateSecretText(password, 'password');
    console.log(`0x${hmacKey(user, realm, password)}`);
    return;
  }
  const ctx = context(cmd);
  if (o.add) addUser(ctx, need(o.user, '-u USER', '-a'), need(o.password, '-p PASSWORD', '-a'), o.realm, true);
  else if (o.delete) deleteUser(ctx, need(o.user, '-u USER', '-d'), o.realm);
  else if (o.list) for (const u of listUsers(ctx)) console.log(`${u.name}[${u.realm}]`);
  else if (setSecret !== undefined) addSecret(ctx, setSecret);
  else if (o.showSecret) printSecrets(ctx, listSecrets(ctx));
  else if (o.deleteSecret !== undefined) removeSecret(ctx, o.deleteSecret);
}

function buildProgram(): Command {
  const program = configureCommand(new Command(PROG), PROG)
    .description('Manage static TURN users and the TURN REST secret set of the relay; mint REST credentials. coturn\'s flags (-a -d -l -k -s -S -X with -u -r -p) work too.')
    .enablePositionalOptions()
    .option('-a, --add', 'add or update a user (with -u -r -p)')
    .option('-d, --delete', 'delete a user (with -u -r)')
    .option('-l, --list', 'list users as name[realm]')
    .option('-k, --key', 'print the long-term key 0x<hex MD5(user:realm:password)> (with -u -r -p)')
    .option('-s, --set-secret <secret>', 'add a TURN REST secret (newest: signs new credentials)')
    .addOption(new Option('--secret <secret>', 'same as --set-secret').hideHelp())
    .option('-S, --show-secret', 'list the secrets in use, masked')
    .option('-X, --delete-secret <secret>', 'remove a secret (value or id from -S)')
    .option('-u, --user <name>', 'user name')
    .option('-r, --realm <realm>', 'realm (default: TURN_REALM)')
    .option('-p, --password <password>', 'password')
    .addOption(new Option('-A, --add-admin', 'coturn web-admin users: not supported (ADMIN_TOKEN)').hideHelp())
    .addOption(new Option('-D, --delete-admin').hideHelp())
    .addOption(new Option('-L, --list-admin').hideHelp())
    .allowExcessArguments()
    .action((opts: CoturnForm, cmd: Command) => {
      if (cmd.args.length > 0) throw new CliError(`unknown command '${cmd.args[0]}' (see turnadmin --help)`);
      runCoturnForm(opts, cmd);
    });
  fileOptions(program);

  const sub = (name: string, description: string) => fileOptions(configureCommand(program.command(name), PROG).description(description));

  sub('add-user', 'add a long-term-credential user (stores MD5(name:realm:password), never the password)')
    .requiredOption('-u, --user <name>', 'user name')
    .requiredOption('-p, --password <password>', 'password')
    .option('-r, --realm <realm>', 'realm (default: TURN_REALM, else webrtc-call)')
    .action((o: { user: string; password: string; realm?: string }, cmd: Command) => addUser(context(cmd), o.user, o.password, o.realm, false));

  sub('delete-user', 'delete a user')
    .requiredOption('-u, --user <name>', 'user name')
    .option('-r, --realm <realm>', 'realm (default: TURN_REALM, else webrtc-call)')
    .action((o: { user: string; realm?: string }, cmd: Command) => deleteUser(context(cmd), o.user, o.realm));

  sub('list-users', 'list users as "name<TAB>realm" lines (keys are not printed)')
    .option('--json', 'print a JSON array of {name, realm}')
    .action((o: { json?: boolean }, cmd: Command) => {
      const users = listUsers(context(cmd));
      if (o.json) console.log(JSON.stringify(users));
      else for (const u of users) console.log(`${u.name}\t${u.realm}`);
    });

  sub('add-secret', `add a TURN REST shared secret (at least 16 characters): new credentials are signed with it, older secrets stay valid until removed`)
    .argument('<secret>', 'the shared secret')
    .action((secret: string, _o: unknown, cmd: Command) => addSecret(context(cmd), secret));

  sub('list-secrets', 'list every secret in use (added, TURN_SECRET, generated), newest first, masked: id, value, source')
    .option('--json', 'print a JSON array of {id, masked, source, added, newest}')
    .action((o: { json?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const list = listSecrets(ctx);
      if (o.json) console.log(JSON.stringify(list));
      else printSecrets(ctx, list);
    });

  sub('remove-secret', 'remove a secret (its value, or its id from list-secrets): credentials it signed stop working')
    .argument('<secret>', 'the secret or its id')
    .action((secret: string, _o: unknown, cmd: Command) => removeSecret(context(cmd), secret));

  sub('mint', 'print a TURN REST credential {username, password, ttl} as JSON, signed exactly as GET /api/ice-servers signs')
    .option('-u, --user <userid>', 'user id (no ":"; default: 12 random hex digits, as the web server)')
    .option('-t, --ttl <seconds>', 'lifetime in seconds (default: TURN_CREDENTIAL_TTL, else 600)', intArg(1, 10 * 365 * 86_400))
    .option('-s, --secret <secret>', 'sign with this secret (default: the newest secret in use)')
    .action((o: { user?: string; ttl?: number; secret?: string }, cmd: Command) => console.log(JSON.stringify(mint(context(cmd), o.user, o.ttl, o.secret))));

  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
  for (const n of notes) console.error(`${PROG}: ${n}`);
} catch (err) {
  exitWithError(PROG, err);
}
