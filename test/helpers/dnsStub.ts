/**
 * A tiny DNS server for tests (RFC 1035 over UDP on 127.0.0.1): every A query is answered with one
 * address (default 127.0.0.1), every other query type with an empty NOERROR answer. Pebble's
 * validation authority uses it (`pebble -dnsserver`) to find the HTTP-01 target of a test domain,
 * so challenges are really fetched from the server under test instead of being assumed valid.
 */
import { createSocket } from 'node:dgram';

/** A running stub. */
export interface DnsStub {
  port: number;
  /** `name/type` of every query seen, e.g. `call.acme.test/1`. */
  queries: string[];
  close(): Promise<void>;
}

/** Start the stub on a free UDP port of 127.0.0.1. */
export async function startDnsStub(answer = '127.0.0.1'): Promise<DnsStub> {
  const octets = answer.split('.').map(Number);
  const queries: string[] = [];
  const sock = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    try {
      if (msg.length < 17 || msg.readUInt16BE(4) !== 1) return; // exactly one question
      let off = 12;
      const labels: string[] = [];
      while (msg[off] !== 0) {
        const len = msg[off]!;
        if (len > 63 || off + 1 + len >= msg.length) return;
        labels.push(msg.subarray(off + 1, off + 1 + len).toString('latin1'));
        off += 1 + len;
      }
      off += 1;
      const qtype = msg.readUInt16BE(off);
      off += 4; // QTYPE + QCLASS
      queries.push(`${labels.join('.')}/${qtype}`);
      const isA = qtype === 1;
      const header = Buffer.alloc(12);
      header.writeUInt16BE(msg.readUInt16BE(0), 0); // id
      header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100), 2); // QR, AA, RD copied, NOERROR
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(isA ? 1 : 0, 6);
      // Answer: name = pointer to the question (0xc00c), type A, class IN, TTL 5 s, 4 bytes.
      const rr = isA ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, ...octets]) : Buffer.alloc(0);
      sock.send(Buffer.concat([header, msg.subarray(12, off), rr]), rinfo.port, rinfo.address);
    } catch {
      // A malformed query gets no answer.
    }
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  return {
    port: sock.address().port,
    queries,
    close: () => new Promise((resolve) => sock.close(() => resolve())),
  };
}
