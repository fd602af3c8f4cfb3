/**
 * The relay's whole public surface: everything outside `turn/` (the web server, its admin API and
 * metrics, benchmarks, tests) imports from here or from `contracts/`, never from the files behind it.
 *
 * ```ts
 * const relay = createTurnServer({ realm: 'example.org', secrets: ['s3cret'], listen: '127.0.0.1', port: 3478 });
 * await relay.start();
 * console.log(relay.stats());
 * await relay.stop();
 * ```
 * Also here: the wire codec (`stun`), TURN REST credentials, the shared-secret store, the users file
 * (one module for the relay, `turnadmin` and the admin API) and the TURN client library.
 */
export { createTurnServer, type TurnServer, type TurnAddresses, type RevokeResult } from './turnServer.js';
export type { AllocationEventListener, TurnServerOptions, TurnTlsOptions } from './options.js';
export type { DataPathChoice } from './chooseDataPath.js';
export { relayNodeFlags } from './nodeFlags.js';
export type { TurnLogger } from './logger.js';
export type { AllocationInfo, DataPathInfo, TransportAddress, TurnStats, TurnTransport } from '../contracts/relay.js';
export { makeRestCredential, restPassword, type RestCredential } from './auth/restCredentials.js';
export {
  SecretStore,
  MIN_SECRET_LENGTH,
  maskSecret,
  readSecretSet,
  secretId,
  weakSecrets,
  type SecretEntry,
  type SecretSetLocation,
  type SecretSource,
} from './auth/secretStore.js';
export {
  UsersFileError,
  emptyUsersFile,
  hmacKey,
  parseUsersFile,
  readUsersFile,
  removeUser,
  updateUsersFile,
  type UsersFile,
  type UsersFileSecret,
  type UsersFileUser,
} from './auth/usersFile.js';
export * as stun from './stun/index.js';
export * from './client/index.js';
