/**
 * `npm run certs [-- --renew]`: create (or renew) the self-signed HTTPS certificate in
 * `CERTS_DIR` and print the paths and the SHA-256 fingerprint. With `TLS_CERT`/`TLS_KEY` set it
 * only checks and describes those files. Exit code 1 on invalid configuration or unusable files.
 */
import { Command } from 'commander';
import { ensureCertificates } from '../server/certs.js';
import { ConfigError, loadConfig } from '../contracts/config.js';

const program = new Command()
  .name('certs')
  .description('Create or renew the self-signed HTTPS certificate (CERTS_DIR) and print its fingerprint')
  .option('--renew', 'regenerate the self-signed certificate even if it is still valid', false)
  .parse();

const opts = program.opts<{ renew: boolean }>();

try {
  const config = loadConfig();
  if (opts.renew && config.TLS_CERT) {
    process.stderr.write('TLS_CERT/TLS_KEY are set: a configured certificate is never replaced; --renew ignored\n');
  }
  const tls = await ensureCertificates(config, { forceRenew: opts.renew && !config.TLS_CERT });
  const what = !tls.selfSigned ? 'configured certificate' : tls.generated ? 'generated self-signed certificate' : 'existing self-signed certificate (still valid)';
  process.stdout.write(
    `${what}\n  certificate: ${tls.certPath}\n  private key: ${tls.keyPath}\n  valid to:    ${tls.validTo.toISOString()}\n  SHA-256:     ${tls.fingerprint256}\n`,
  );
} catch (err) {
  process.stderr.write(`${err instanceof ConfigError ? err.message : `certs: ${(err as Error).message}`}\n`);
  process.exit(1);
}
