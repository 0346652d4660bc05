'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {
  EN, chooseLanguage, isRtl, cleanStrings, Words, relativeTime, replyLine,
} = require('../../services/gateway/widget/lib/i18n.js');

const LANG_DIR = path.join(__dirname, '../../services/gateway/widget/lang');
const catalogue = (lang) => JSON.parse(fs.readFileSync(path.join(LANG_DIR, lang + '.json'), 'utf8'));

test('the browser language picks a shipped catalogue, region and case aside', () => {
  assert.equal(chooseLanguage(['fr-FR', 'en-US']), 'fr');
  assert.equal(chooseLanguage(['PT-br']), 'pt');
  assert.equal(chooseLanguage(['it-IT', 'de-CH', 'fr']), 'de'); // the first one spoken
  assert.equal(chooseLanguage(['it', 'nl']), 'en');
  assert.equal(chooseLanguage([]), 'en');
  assert.equal(chooseLanguage(undefined), 'en');
});

test('Arabic and Hebrew only once the workspace added strings for them, then right to left', () => {
  assert.equal(chooseLanguage(['ar-EG', 'fr']), 'fr');
  assert.equal(chooseLanguage(['ar-EG', 'fr'], ['ar']), 'ar');
  assert.equal(chooseLanguage(['he-IL'], ['ar']), 'en');
  assert.ok(isRtl('ar') && isRtl('he') && !isRtl('fr'));
});

test('every shipped catalogue has exactly the English keys and keeps the placeholders', () => {
  for (const lang of ['fr', 'de', 'es', 'pt']) {
    const c = catalogue(lang);
    assert.deepEqual(Object.keys(c).sort(), Object.keys(EN).sort(), lang);
    for (const key of Object.keys(EN)) {
      const wanted = (EN[key].match(/\{\w+\}/g) || []).sort();
      assert.deepEqual((c[key].match(/\{\w+\}/g) || []).sort(), wanted, lang + ' ' + key);
    }
  }
});

test('lookup: the workspace override, the catalogue, English; the own greeting in English', () => {
  const fr = new Words('fr');
  fr.catalogue = cleanStrings(catalogue('fr'));
  assert.equal(fr.t('send'), 'Envoyer');
  fr.defaults = { greeting: 'Hello from Acme' };
  assert.equal(fr.t('greeting'), catalogue('fr').greeting); // an English greeting stays out
  fr.overrides = cleanStrings({ greeting: 'Bienvenue chez Acme', bogus: 'x', send: 42 });
  assert.equal(fr.t('greeting'), 'Bienvenue chez Acme');
  assert.equal(fr.t('send'), 'Envoyer'); // a non-string override is dropped
  const en = new Words('en');
  en.defaults = { greeting: 'Hello from Acme' };
  assert.equal(en.t('greeting'), 'Hello from Acme');
  assert.equal(en.t('typing', { name: 'Ann' }), 'Ann is typing\u2026');
  const ar = new Words('ar'); // no catalogue: the workspace's strings, English for the rest
  ar.overrides = cleanStrings({ send: '\u0623\u0631\u0633\u0644' });
  assert.equal(ar.t('send'), '\u0623\u0631\u0633\u0644');
  assert.equal(ar.t('retry'), 'Retry');
});

test('cleanStrings keeps known keys with bounded string values only', () => {
  assert.deepEqual(cleanStrings({ send: 'Go', nope: 'x', retry: 'r'.repeat(301) }), { send: 'Go' });
  assert.deepEqual(cleanStrings(null), {});
  assert.deepEqual(cleanStrings('send'), {});
});

test('relative times: now, minutes, hours, days, in the visitor language', () => {
  const now = Date.parse('2026-03-01T12:00:00Z');
  const en = new Words('en');
  assert.equal(relativeTime('2026-03-01T11:59:30Z', now, en), 'now');
  assert.equal(relativeTime('2026-03-01T11:58:00Z', now, en), '2 min');
  assert.equal(relativeTime('2026-03-01T11:00:00Z', now, en), '1 h');
  assert.equal(relativeTime('2026-02-27T11:00:00Z', now, en), '2 d');
  assert.equal(relativeTime('2026-03-01T12:00:05Z', now, en), 'now'); // a clock a little ahead
  assert.equal(relativeTime('garbage', now, en), '');
  assert.equal(relativeTime(null, now, en), '');
  const fr = new Words('fr');
  fr.catalogue = cleanStrings(catalogue('fr'));
  assert.equal(relativeTime('2026-03-01T11:59:30Z', now, fr), '\u00e0 l\u2019instant');
  assert.equal(relativeTime('2026-02-27T11:00:00Z', now, fr), '2 j');
});

test('the reply-time line follows the median minutes, and says nothing without data', () => {
  const en = new Words('en');
  assert.equal(replyLine(3, en), 'Usually replies in a few minutes');
  assert.equal(replyLine(10, en), 'Usually replies in a few minutes');
  assert.equal(replyLine(25, en), 'Usually replies in under an hour');
  assert.equal(replyLine(300, en), 'Usually replies within a day');
  assert.equal(replyLine(null, en), '');
  assert.equal(replyLine(0, en), '');
});
