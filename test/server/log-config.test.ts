/**
 * Log4js configuration. Default: stdout + LOG_DIR/server.log, every signaling line names
 * the room and the socket id. LOG_CONFIG replaces the default with a log4js JSON file; an invalid
 * one stops the server with a message naming LOG_CONFIG.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeServerDirs, startServer, type RunningServer } from '../helpers/server.js';
import { nextEvent, sleep } from '../signaling/harness.js';
import { connectTo } from './redis-server.js';

const dir = mkdtempSync(path.join(tmpdir(), 'webrtc-call-logcfg-'));
const started: RunningServer[] = [];
afterAll(async () => {
  for (const s of started) {
    await s.stop();
    removeServerDirs(s);
  }
  rmSync(dir, { recursive: true, force: true });
});

async function joinAndLeave(url: string, room: string): Promise<{ a: string; b: string }> {
  const a = await connectTo(url);
  const b = await connectTo(url);
  const ja = nextEvent(a, 'joined');
  a.emit('join', room);
  await ja;
  const jb = nextEvent(b, 'joined');
  b.emit('join', room);
  await jb;
  const bye = nextEvent(a, 'bye');
  b.emit('leave', room);
  await bye;
  const ids = { a: a.id!, b: b.id! };
  a.disconnect();
  b.disconnect();
  await sleep(200);
  return ids;
}

describe('logging', () => {
  it('default: signaling lines in LOG_DIR/server.log carry the room and the socket id', async () => {
    const s = await startServer({ env: { TURN_ENABLED: 'false', LOG_LEVEL: 'info' } });
    started.push(s);
    const { a, b } = await joinAndLeave(s.url, '5551234');
    const log = readFileSync(path.join(s.env.LOG_DIR!, 'server.log'), 'utf8');
    expect(log).toContain(`[INFO] signaling - joined room=5551234 socket=${a} members=1`);
    expect(log).toContain(`[INFO] signaling - joined room=5551234 socket=${b} members=2`);
    expect(log).toContain(`[INFO] signaling - left room=5551234 socket=${b}`);
    expect(log).toContain(`[INFO] signaling - disconnected room=5551234 socket=${a}`);
  });

  it('LOG_CONFIG replaces the default: its own appender, layout and per-category levels', async () => {
    const file = path.join(dir, 'custom.log');
    const cfg = path.join(dir, 'log4js.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        appenders: { f: { type: 'file', filename: file, layout: { type: 'pattern', pattern: 'CUSTOM %p %c %m' } } },
        categories: { default: { appenders: ['f'], level: 'error' }, signaling: { appenders: ['f'], level: 'debug' } },
      }),
    );
    const s = await startServer({ env: { TURN_ENABLED: 'false', LOG_CONFIG: cfg, LOG_LEVEL: 'off' } });
    started.push(s);
    const { a } = await joinAndLeave(s.url, '5551235');
    const log = readFileSync(file, 'utf8');
    expect(log).toContain(`CUSTOM INFO signaling joined room=5551235 socket=${a} members=1`);
    expect(log).toMatch(/CUSTOM DEBUG signaling connected socket=/);
    // Category `server` is at error: its info lines (listening on ...) are not written.
    expect(log).not.toMatch(/CUSTOM INFO server/);
    // The default appenders are replaced: nothing in LOG_DIR/server.log.
    expect(() => readFileSync(path.join(s.env.LOG_DIR!, 'server.log'), 'utf8')).toThrow();
  });

  it('an invalid LOG_CONFIG stops the server with a message naming LOG_CONFIG', async () => {
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"appenders": {}, ');
    await expect(startServer({ env: { TURN_ENABLED: 'false', LOG_CONFIG: bad }, timeoutMs: 10_000 })).rejects.toThrow(/LOG_CONFIG .*bad\.json/);
    await expect(startServer({ env: { TURN_ENABLED: 'false', LOG_CONFIG: path.join(dir, 'missing.json') }, timeoutMs: 10_000 })).rejects.toThrow(
      /LOG_CONFIG .*missing\.json: ENOENT/,
    );
  });
});
