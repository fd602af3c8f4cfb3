/**
 * The translation catalogs: every key in every language, the same interpolation variables, the
 * plural forms each language's rules need, keys named by the pages' markup exist; and the typed
 * `t()` (interpolation, plurals, language choice).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { en } from '../../client/src/i18n/en.js';
import { LANGUAGES, msg, pickLanguage, render, setLanguage, t, type Lang } from '../../client/src/i18n/index.js';
import { zhCN } from '../../client/src/i18n/zh-CN.js';

const CATALOGS: Record<Lang, object> = { en, 'zh-CN': zhCN };
const PLURAL_SUFFIX = /_(zero|one|two|few|many|other)$/;

/** Every leaf of a catalog: dotted key → text. */
function leaves(obj: object, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'object' && v !== null) for (const [kk, vv] of leaves(v, `${prefix}${k}.`)) out.set(kk, vv);
    else out.set(`${prefix}${k}`, v);
  }
  return out;
}

/** Base key (plural suffix removed) → the texts of its forms. */
function byBase(obj: object): Map<string, { forms: Map<string, string> }> {
  const out = new Map<string, { forms: Map<string, string> }>();
  for (const [key, text] of leaves(obj)) {
    const m = PLURAL_SUFFIX.exec(key);
    const base = m ? key.slice(0, m.index) : key;
    const entry = out.get(base) ?? { forms: new Map<string, string>() };
    entry.forms.set(m ? m[1]! : '', String(text));
    out.set(base, entry);
  }
  return out;
}

const variables = (text: string): string[] => [...text.matchAll(/\{\{\s*([\w-]+)\s*\}\}/g)].map((m) => m[1]!);

describe('catalogs', () => {
  const english = byBase(en);

  it.each(LANGUAGES)('%s has every key of the others and no other', (lang) => {
    const mine = byBase(CATALOGS[lang]);
    for (const other of LANGUAGES) {
      const theirs = byBase(CATALOGS[other]);
      const missing = [...theirs.keys()].filter((k) => !mine.has(k));
      expect(missing, `${lang} lacks keys that ${other} has`).toEqual([]);
    }
  });

  it.each(LANGUAGES)('%s: every text is a non-empty string (separators may be blank)', (lang) => {
    for (const [key, text] of leaves(CATALOGS[lang])) {
      expect(typeof text, key).toBe('string');
      if (!/Separator$/.test(key)) expect((text as string).trim(), `${lang} ${key}`).not.toBe('');
    }
  });

  it.each(LANGUAGES)('%s: plural keys have exactly the forms Intl.PluralRules needs, and a plain key has none', (lang) => {
    const needed = new Intl.PluralRules(lang).resolvedOptions().pluralCategories.slice().sort();
    for (const [base, { forms }] of byBase(CATALOGS[lang])) {
      const plural = [...(english.get(base)?.forms.keys() ?? [])].some((f) => f !== '');
      if (plural) expect([...forms.keys()].sort(), `${lang} ${base}`).toEqual(needed);
      else expect([...forms.keys()], `${lang} ${base}`).toEqual(['']);
    }
  });

  it.each(LANGUAGES)('%s: each key uses the same interpolation variables as English', (lang) => {
    const problems: string[] = [];
    for (const [base, { forms }] of byBase(CATALOGS[lang])) {
      const want = new Set([...(english.get(base)?.forms.values() ?? [])].flatMap(variables));
      for (const [form, text] of forms) {
        const got = new Set(variables(text));
        // A plural form may leave out {{count}} ("one hour"), never another variable.
        const expected = [...want].filter((v) => v !== 'count' || got.has('count')).sort();
        if ([...got].sort().join() !== expected.join()) problems.push(`${base}${form ? `_${form}` : ''}: {${[...got]}} vs English {${[...want]}}`);
      }
      if (forms.size > 1 || want.has('count')) {
        const anyCount = [...forms.values()].some((x) => variables(x).includes('count'));
        if (want.has('count') && !anyCount) problems.push(`${base}: no form shows {{count}}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every key named by the pages\' markup exists', () => {
    const keys = new Set(leaves(en).keys());
    for (const file of ['client/index.html', 'client/trickle-ice.html']) {
      const html = readFileSync(file, 'utf8').replace(/<!--[\s\S]*?-->/g, '');
      const named = [...html.matchAll(/data-i18n(?:-[a-z-]+)?="([^"]+)"/g)].map((m) => m[1]!);
      expect(named.length, file).toBeGreaterThan(10);
      expect(
        named.filter((k) => !keys.has(k)),
        file,
      ).toEqual([]);
    }
  });
});

describe('t()', () => {
  afterEach(() => setLanguage('en'));

  it('interpolates, picks plural forms by language, and leaves typed text alone', () => {
    expect(t('status.roomFull', { room: '42' })).toBe('Room 42 is full. Try another room number.');
    expect(t('trickle.defaults.loadedHours', { count: 1 })).toMatch(/valid for 1 hour\.$/);
    expect(t('trickle.defaults.loadedHours', { count: 24 })).toMatch(/valid for 24 hours\.$/);
    // Variables are not interpreted again: braces or nesting syntax typed by a person stay as typed.
    expect(t('chat.fromMe', { text: '{{room}} $t(status.connected) <b>' })).toBe('You: {{room}} $t(status.connected) <b>');
    setLanguage('zh-CN');
    expect(t('status.roomFull', { room: '42' })).toBe('房间 42 已满。请换一个房间号。');
    expect(t('trickle.defaults.loadedHours', { count: 1 })).toMatch(/有效期 1 小时。$/);
    expect(t('status.connected')).toBe('已接通');
  });

  it('renders nested messages and lists in the current language', () => {
    const m = msg('app.twoSentences', { first: msg('status.noPath'), second: msg('status.stillTrying') });
    expect(render(m)).toBe(`${t('status.noPath')} ${t('status.stillTrying')}`);
    const list = msg('trickle.gathering.finished', {
      ms: 12,
      entries: [msg('trickle.gathering.entryStopped', { entry: 1 }), msg('trickle.gathering.entryStopped', { entry: 2 })],
      host: 1,
      srflx: 0,
      prflx: 0,
      relay: 0,
      errors: 0,
    });
    expect(render(list)).toContain('#1 stopped; #2 stopped');
    setLanguage('zh-CN');
    expect(render(m)).toBe(`${t('status.noPath')}${t('status.stillTrying')}`);
    expect(render(list)).toContain('#1 已停止；#2 已停止');
  });

  it('types keys and variables', () => {
    // These lines are checked by `npm run typecheck`; at run time they only need to not throw.
    // @ts-expect-error unknown key
    t('status.noSuchKey');
    // @ts-expect-error missing variable
    t('status.roomFull');
    // @ts-expect-error a plural key needs count
    t('trickle.gathering.running', { policy: 'all' });
    expect(t('trickle.gathering.running', { count: 2, policy: 'all' })).toContain('2 server entries');
  });
});

describe('pickLanguage', () => {
  it('takes a stored choice of ours, else the first browser language we have, else English', () => {
    expect(pickLanguage(['en-US'], 'zh-CN')).toBe('zh-CN');
    expect(pickLanguage(['zh-CN'], 'fr')).toBe('zh-CN');
    expect(pickLanguage(['zh-TW', 'en'])).toBe('zh-CN');
    expect(pickLanguage(['zh'])).toBe('zh-CN');
    expect(pickLanguage(['fr-FR', 'en-GB', 'zh-CN'])).toBe('en');
    expect(pickLanguage(['de', 'zh_CN'])).toBe('zh-CN');
    expect(pickLanguage([])).toBe('en');
  });
});
