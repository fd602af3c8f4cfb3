/**
 * Translation for both pages: the languages, the typed `t()` and messages ({@link Msg}) that can
 * be shown again in another language. No DOM here (dom.ts binds it to a page), so every module,
 * and the unit tests in Node, can call {@link t}; until a page picks a language it is English.
 *
 * Built on i18next: plural forms from `Intl.PluralRules` (Chinese has one form, English two),
 * `{{name}}` interpolation, fallback to English for a missing key, and a well-kept library
 * instead of our own. Its values are not HTML-escaped (pages set `textContent`), and variables are
 * never interpreted again (`skipOnVariables`), so text typed by a person stays as typed.
 *
 * Keys are checked at compile time against the English catalog, and so are the variables each
 * string needs (`count` for a plural key).
 */
import i18next from 'i18next';
import { en } from './en.js';
import { zhCN } from './zh-CN.js';

/** The languages of the pages, in the order the language switch lists them. */
export const LANGUAGES = ['zh-CN', 'en'] as const;
export type Lang = (typeof LANGUAGES)[number];

/** Plural suffixes of i18next (CLDR categories). */
type PluralCategory = 'zero' | 'one' | 'two' | 'few' | 'many' | 'other';
type PluralVariant = `${string}_${Exclude<PluralCategory, 'other'>}`;

/**
 * The shape every catalog has: the English one's, with strings of any text. Plural variants other
 * than `_other` are optional (each language has the categories its plural rules need).
 */
export type Catalog<T = typeof en> = {
  -readonly [K in keyof T as K extends PluralVariant ? never : K]: T[K] extends string ? string : Catalog<T[K]>;
} & {
  -readonly [K in keyof T as K extends PluralVariant ? K : never]?: string;
};

type Leaves<T, P extends string = ''> = {
  [K in keyof T & string]: T[K] extends string ? `${P}${K}` : Leaves<T[K], `${P}${K}.`>;
}[keyof T & string];
type Leaf = Leaves<typeof en>;
type StripPlural<K> = K extends `${infer B}_${PluralCategory}` ? B : K;
type At<T, P extends string> = P extends `${infer H}.${infer R}` ? (H extends keyof T ? At<T[H], R> : never) : P extends keyof T ? T[P] : never;

/** Every key `t()` accepts (plural keys without their suffix). */
export type Key = StripPlural<Leaf>;
type IsPlural<K extends Key> = K extends Leaf ? false : true;
type Text<K extends Key> = K extends Leaf ? At<typeof en, K> : At<typeof en, `${K}_other`> | At<typeof en, `${K}_one`>;
type VarNames<S> = S extends `${string}{{${infer V}}}${infer R}` ? V | VarNames<R> : never;

/** A value for a variable: text, a number, another message, or a list of messages (shown with `app.listSeparator`). */
export type Value = string | number | Msg | Msg[];
/** The variables of key `K` (`count` for a plural key). */
export type VarsOf<K extends Key> = { [V in VarNames<Text<K>> | (IsPlural<K> extends true ? 'count' : never)]: V extends 'count' ? number : Value };
type VarsArg<K extends Key> = [VarNames<Text<K>>] extends [never] ? (IsPlural<K> extends true ? [vars: VarsOf<K>] : [vars?: Record<string, never>]) : [vars: VarsOf<K>];

/**
 * A message to show: a key and its variables. Plain data (JSON-safe), so a page can keep it and
 * show it again when the language changes.
 */
export interface Msg {
  key: Key;
  vars?: Record<string, Value>;
}

const i18n = i18next.createInstance();
void i18n.init({
  resources: { en: { translation: en }, 'zh-CN': { translation: zhCN } },
  lng: 'en',
  fallbackLng: 'en',
  supportedLngs: [...LANGUAGES],
  initAsync: false,
  nsSeparator: false,
  keySeparator: '.',
  returnNull: false,
  interpolation: { escapeValue: false, skipOnVariables: true },
});

const listeners = new Set<(lang: Lang) => void>();

/** The language texts are shown in now. */
export function language(): Lang {
  return (LANGUAGES as readonly string[]).includes(i18n.language) ? (i18n.language as Lang) : 'en';
}

/** Show texts in `lang` from now on; listeners are told (also when it did not change: they may re-render). */
export function setLanguage(lang: Lang): void {
  if (i18n.language !== lang) void i18n.changeLanguage(lang);
  for (const fn of listeners) fn(lang);
}

/** Call `fn` after every {@link setLanguage}; returns a function that removes it. */
export function onLanguageChange(fn: (lang: Lang) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * The language for a person: `stored` (their earlier choice) when it is one of ours, else the
 * first of `preferred` (`navigator.languages`) we have: any Chinese (`zh`, `zh-TW`, …) → `zh-CN`,
 * any English → `en`; else English.
 */
export function pickLanguage(preferred: readonly string[], stored?: string | null): Lang {
  if (stored && (LANGUAGES as readonly string[]).includes(stored)) return stored as Lang;
  for (const tag of preferred) {
    const base = tag.toLowerCase().split(/[-_]/)[0];
    if (base === 'zh') return 'zh-CN';
    if (base === 'en') return 'en';
  }
  return 'en';
}

/** A {@link Msg} for `key` with its variables (checked against the catalog). */
export function msg<K extends Key>(key: K, ...vars: VarsArg<K>): Msg {
  return vars[0] ? { key, vars: vars[0] as Record<string, Value> } : { key };
}

function resolveValue(v: Value): string | number {
  if (Array.isArray(v)) return v.map(render).join(t('app.listSeparator'));
  if (typeof v === 'object') return render(v);
  return v;
}

/** Render `m` in the current language (nested messages too). */
export function render(m: Msg): string {
  const vars: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(m.vars ?? {})) vars[k] = resolveValue(v);
  return i18n.t(m.key, vars);
}

/** Render several whole sentences as one text (`app.sentenceSeparator` between them). */
export function sentences(list: readonly Msg[]): string {
  return list.map(render).join(t('app.sentenceSeparator'));
}

/** The text of `key` in the current language, with its variables. */
export function t<K extends Key>(key: K, ...vars: VarsArg<K>): string {
  return render(msg(key, ...vars));
}

/** True when `m` looks like a {@link Msg} (e.g. read back from a data attribute). */
export function isMsg(m: unknown): m is Msg {
  return typeof m === 'object' && m !== null && typeof (m as Msg).key === 'string';
}
