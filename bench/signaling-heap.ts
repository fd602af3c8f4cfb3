/**
 * Reads a V8 heap snapshot of the signaling server (from `npm run bench:signaling -- --heap-snapshot
 * DIR`) and prints where the memory per socket goes (not a test, not product code):
 * - self size by kind (constructor name for objects and closures), as bytes and objects per socket;
 * - retained size by constructor (dominator tree, Cooper–Harvey–Kennedy over strong edges);
 * - `--explain 'object:Socket,nsp;object:Client'`: for each `type:name[,edge]` (instances that have
 *   a property `edge`), the average retained size of what each instance dominates, by property.
 *
 * Run: `node dist/bench/signaling-heap.js FILE --sockets N [--explain SPEC] [--top 40]`
 * (large snapshots need `node --max-old-space-size=8000`).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';

const program = new Command()
  .name('signaling-heap')
  .argument('<file>', 'a .heapsnapshot file')
  .requiredOption('--sockets <n>', 'sockets the server held (divides every figure)')
  .option('--explain <spec>', 'classes to break down: "type:name[,edge];..."', '')
  .option('--top <n>', 'rows per table', '40')
  .parse();
const opts = program.opts<{ sockets: string; explain: string; top: string }>();
const sockets = Number(opts.sockets);
const top = Number(opts.top);

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}
const snap = JSON.parse(readFileSync(program.args[0]!, 'utf8')) as Snapshot;
const meta = snap.snapshot.meta;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const [nType, nName, nSelf, nEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f)) as [number, number, number, number];
const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f)) as [number, number, number];
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const { nodes, edges, strings } = snap;
const N = nodes.length / NF;
const WEAK = edgeTypes.indexOf('weak');
const SHORTCUT = edgeTypes.indexOf('shortcut');

const firstEdge = new Uint32Array(N + 1);
for (let i = 0, e = 0; i < N; i++) {
  firstEdge[i] = e;
  e += nodes[i * NF + nEdges]! * EF;
  firstEdge[i + 1] = e;
}
const typeOf = (i: number) => nodeTypes[nodes[i * NF + nType]!]!;
const nameOf = (i: number) => strings[nodes[i * NF + nName]!]!;
const selfOf = (i: number) => nodes[i * NF + nSelf]!;
const label = (i: number) => `${typeOf(i)}:${nameOf(i).slice(0, 40)}`;
const strong = (e: number) => edges[e + eType] !== WEAK && edges[e + eType] !== SHORTCUT;
const per = (bytes: number) => (bytes / sockets).toFixed(0).padStart(7);

// Self size by kind.
const byKind = new Map<string, { n: number; bytes: number }>();
let total = 0;
for (let i = 0; i < N; i++) {
  const t = typeOf(i);
  const k = ['object', 'closure', 'native', 'hidden', 'array', 'code'].includes(t) ? label(i) : t;
  const a = byKind.get(k) ?? { n: 0, bytes: 0 };
  a.n++;
  a.bytes += selfOf(i);
  total += selfOf(i);
  byKind.set(k, a);
}
console.log(`${N} nodes, ${(total / 2 ** 20).toFixed(1)} MB, ${(total / sockets / 1024).toFixed(2)} KB per socket\n\nself size per socket (B), objects per socket, kind:`);
for (const [k, a] of [...byKind].sort((x, y) => y[1].bytes - x[1].bytes).slice(0, top)) {
  console.log(`${per(a.bytes)}  ${(a.n / sockets).toFixed(2).padStart(6)}  ${k}`);
}

// Dominator tree from the root (node 0) over strong edges.
const order = new Int32Array(N).fill(-1);
const post = new Int32Array(N);
let count = 0;
{
  const stack = new Int32Array(N + 1);
  const next = new Uint32Array(N);
  const seen = new Uint8Array(N);
  let sp = 0;
  stack[sp++] = 0;
  seen[0] = 1;
  next[0] = firstEdge[0]!;
  while (sp > 0) {
    const v = stack[sp - 1]!;
    let pushed = false;
    while (next[v]! < firstEdge[v + 1]!) {
      const e = next[v]!;
      next[v] = e + EF;
      if (!strong(e)) continue;
      const w = edges[e + eTo]! / NF;
      if (!seen[w]) {
        seen[w] = 1;
        next[w] = firstEdge[w]!;
        stack[sp++] = w;
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      sp--;
      order[v] = count;
      post[count++] = v;
    }
  }
}
const predStart = new Uint32Array(N + 1);
for (let v = 0; v < N; v++) if (order[v]! >= 0) for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e += EF) if (strong(e)) predStart[edges[e + eTo]! / NF + 1]++;
for (let i = 1; i <= N; i++) predStart[i]! += predStart[i - 1]!;
const preds = new Int32Array(predStart[N]!);
const fill = predStart.slice();
for (let v = 0; v < N; v++) if (order[v]! >= 0) for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e += EF) if (strong(e)) preds[fill[edges[e + eTo]! / NF]!++] = v;
const idom = new Int32Array(N).fill(-1);
idom[0] = 0;
for (let changed = true; changed; ) {
  changed = false;
  for (let k = count - 2; k >= 0; k--) {
    const b = post[k]!;
    let d = -1;
    for (let p = predStart[b]!; p < predStart[b + 1]!; p++) {
      let q = preds[p]!;
      if (idom[q] === -1) continue;
      if (d === -1) {
        d = q;
        continue;
      }
      let r = d;
      while (q !== r) {
        while (order[q]! < order[r]!) q = idom[q]!;
        while (order[r]! < order[q]!) r = idom[r]!;
      }
      d = q;
    }
    if (d !== -1 && idom[b] !== d) {
      idom[b] = d;
      changed = true;
    }
  }
}
const retained = new Float64Array(N);
for (let k = 0; k < count; k++) {
  const v = post[k]!;
  retained[v]! += selfOf(v);
  if (v !== 0) retained[idom[v]!]! += retained[v]!;
}

const byClass = new Map<string, { n: number; bytes: number }>();
for (let i = 1; i < N; i++) {
  if (order[i]! < 0) continue;
  const k = label(i);
  const a = byClass.get(k) ?? { n: 0, bytes: 0 };
  a.n++;
  a.bytes += retained[i]!;
  byClass.set(k, a);
}
console.log('\nretained size per socket (B), instances per socket, class (instances may retain each other):');
for (const [k, a] of [...byClass].sort((x, y) => y[1].bytes - x[1].bytes).slice(0, top)) {
  console.log(`${per(a.bytes)}  ${(a.n / sockets).toFixed(2).padStart(6)}  ${k}`);
}

for (const spec of opts.explain.split(';').filter(Boolean)) {
  const [target, mustHave] = spec.split(',');
  const rows = new Map<string, number>();
  let n = 0;
  let sum = 0;
  for (let i = 0; i < N; i++) {
    if (order[i]! < 0 || `${typeOf(i)}:${nameOf(i)}` !== target) continue;
    let ok = !mustHave;
    const mine: Array<[string, number]> = [];
    for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += EF) {
      const w = edges[e + eTo]! / NF;
      const et = edgeTypes[edges[e + eType]!];
      const name = et === 'element' ? '[]' : et === 'hidden' ? '(hidden)' : String(strings[edges[e + eName]!]);
      if (name === mustHave) ok = true;
      if (idom[w] === i) mine.push([`${name} -> ${label(w)}`, retained[w]!]);
    }
    if (!ok) continue;
    n++;
    sum += retained[i]!;
    for (const [k, r] of mine) rows.set(k, (rows.get(k) ?? 0) + r);
  }
  console.log(`\n${target}${mustHave ? ` with .${mustHave}` : ''}: ${n} instances, ${(sum / Math.max(n, 1)).toFixed(0)} B retained each; what one instance dominates (avg B):`);
  for (const [k, r] of [...rows].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`${(r / Math.max(n, 1)).toFixed(0).padStart(7)}  ${k}`);
}
