/**
 * Translation of a page's DOM.
 *
 * - Static markup names its texts by key: `data-i18n="call.join"` (the element's text),
 *   `data-i18n-title`, `data-i18n-aria-label`, `data-i18n-placeholder` (attributes). An element
 *   with `data-i18n` holds only text (wrap text beside other elements in a `<span>`).
 * - Scripts show messages with {@link setText} / {@link setAttr}: the message is kept on the
 *   element (`data-i18n` + `data-i18n-vars`), so a language switch renders it again.
 * - {@link startPageLanguage}: picks the language (the person's earlier choice in localStorage,
 *   else `navigator.languages`), sets `<html lang>`, translates the page and wires the `#lang`
 *   switch (no reload; the choice is remembered).
 */
import { isMsg, language, LANGUAGES, onLanguageChange, pickLanguage, render, setLanguage, type Key, type Lang, type Msg, type Value } from './index.js';

/** localStorage key of the chosen language. */
export const LANGUAGE_STORAGE_KEY = 'webrtc-call-lang';

/** Attributes translated from `data-i18n-<attribute>`. */
const ATTRIBUTES = ['title', 'aria-label', 'placeholder', 'alt'] as const;
type TranslatedAttribute = (typeof ATTRIBUTES)[number];

function storedLanguage(): string | null {
  try {
    return localStorage.getItem(LANGUAGE_STORAGE_KEY);
  } catch {
    return null;
  }
}

function storeLanguage(lang: Lang): void {
  try {
    localStorage.setItem(LANGUAGE_STORAGE_KEY, lang);
  } catch {
    /* storage disabled: the choice lasts for this page only */
  }
}

function readVars(raw: string | undefined): Record<string, Value> | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, Value>) : undefined;
  } catch {
    return undefined;
  }
}

/** Show `m` as the text of `el` (null: empty), and keep it there for a language switch. */
export function setText(el: HTMLElement, m: Msg | null): void {
  if (!m) {
    delete el.dataset.i18n;
    delete el.dataset.i18nVars;
    el.textContent = '';
    return;
  }
  el.dataset.i18n = m.key;
  if (m.vars) el.dataset.i18nVars = JSON.stringify(m.vars);
  else delete el.dataset.i18nVars;
  el.textContent = render(m);
}

/** Show `m` as attribute `attr` of `el` (null: remove it), and keep it there for a language switch. */
export function setAttr(el: HTMLElement, attr: TranslatedAttribute, m: Msg | null): void {
  const data = `i18n${attr.replace(/(^|-)([a-z])/g, (_, _d: string, c: string) => c.toUpperCase())}`;
  if (!m) {
    delete el.dataset[data];
    el.removeAttribute(attr);
    return;
  }
  el.dataset[data] = m.key;
  el.setAttribute(attr, render(m));
}

/** Render every element under `root` that names its text or attributes by key. */
export function translateDocument(root: ParentNode = document): void {
  for (const el of root.querySelectorAll<HTMLElement>('[data-i18n]')) {
    const m = { key: el.dataset.i18n as Key, vars: readVars(el.dataset.i18nVars) };
    if (isMsg(m)) el.textContent = render(m);
  }
  for (const attr of ATTRIBUTES) {
    for (const el of root.querySelectorAll<HTMLElement>(`[data-i18n-${attr}]`)) {
      const key = el.getAttribute(`data-i18n-${attr}`);
      if (key) el.setAttribute(attr, render({ key: key as Key }));
    }
  }
}

/** Show the page in `lang`: `<html lang>`, every keyed text, listeners of {@link onLanguageChange}. */
export function applyLanguage(lang: Lang): void {
  document.documentElement.lang = lang;
  setLanguage(lang);
  translateDocument();
}

/**
 * Pick the page's language and translate it; wire `switcher` (a `<select>` whose options are the
 * {@link LANGUAGES}) so a choice applies at once and is remembered.
 * @returns the language chosen.
 */
export function startPageLanguage(switcher: HTMLSelectElement | null): Lang {
  const lang = pickLanguage(navigator.languages ?? [navigator.language], storedLanguage());
  applyLanguage(lang);
  if (switcher) {
    switcher.value = lang;
    switcher.addEventListener('change', () => {
      const chosen = LANGUAGES.find((l) => l === switcher.value);
      if (!chosen) return;
      storeLanguage(chosen);
      applyLanguage(chosen);
    });
    onLanguageChange((l) => {
      if (switcher.value !== l) switcher.value = l;
    });
  }
  return language();
}
