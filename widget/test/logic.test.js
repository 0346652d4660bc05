'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  backoffDelay, newId, safeHref, linkify, validEmail, hasEmail, Timeline, emailPromptDelay, emailView, replayQueue, presenceLine,
} = require('../../services/gateway/widget/lib/logic.js');
const { Words } = require('../../services/gateway/widget/lib/i18n.js');
const en = new Words('en');

const msg = (seq, kind, extra = {}) => ({
  id: 'm' + seq, seq, client_msg_id: 'c' + seq, author: { kind, name: kind === 'agent' ? 'Ann' : null },
  text: 'text ' + seq, created_at: '2026-01-01T00:00:0' + (seq % 10) + 'Z', ...extra,
});

test('backoff grows exponentially, is jittered, and is capped', () => {
  assert.equal(backoffDelay(0, () => 0), 250);
  assert.equal(backoffDelay(0, () => 1), 500);
  assert.equal(backoffDelay(3, () => 1), 4000);
  assert.equal(backoffDelay(3, () => 0), 2000);
  assert.equal(backoffDelay(50, () => 1), 15000);
  const spread = new Set(Array.from({ length: 20 }, () => backoffDelay(4)));
  assert.ok(spread.size > 1, 'two clients must not retry in lockstep');
});

test('ids are 22 url-safe characters and differ', () => {
  const a = newId(require('node:crypto').webcrypto);
  const b = newId(null);
  assert.match(a, /^[A-Za-z0-9_-]{22}$/);
  assert.match(b, /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual(a, newId(require('node:crypto').webcrypto));
});

test('only http and https become links', () => {
  assert.equal(safeHref('https://example.com/a?b=1'), 'https://example.com/a?b=1');
  assert.equal(safeHref('javascript:alert(1)'), null);
  assert.equal(safeHref('data:text/html,<script>alert(1)</script>'), null);
  assert.equal(safeHref('JaVaScRiPt:alert(1)'), null);
  assert.equal(safeHref(null), null);
});

test('linkify splits text and links, leaving punctuation and markup as text', () => {
  assert.deepEqual(linkify('See https://example.com/docs. Thanks'), [
    { text: 'See ' }, { text: 'https://example.com/docs', href: 'https://example.com/docs' }, { text: '. Thanks' },
  ]);
  assert.deepEqual(linkify('<img src=x onerror=alert(1)> javascript:alert(1)'), [
    { text: '<img src=x onerror=alert(1)> javascript:alert(1)' },
  ]);
  assert.deepEqual(linkify('(http://a.example)'), [
    { text: '(' }, { text: 'http://a.example', href: 'http://a.example/' }, { text: ')' },
  ]);
});

test('emails are validated and found in text', () => {
  assert.ok(validEmail(' sally@example.com '));
  assert.ok(!validEmail('sally@'));
  assert.ok(!validEmail('sally example.com'));
  assert.ok(!validEmail('a@b'));
  assert.ok(hasEmail('reach me at sally@example.com please'));
  assert.ok(!hasEmail('no email here @ all'));
});

test('the timeline merges repeats, orders by seq, and keeps pending messages last', () => {
  const t = new Timeline();
  t.addPending('mine-1', 'hello', '2026-01-01T00:00:09Z');
  assert.equal(t.upsert(msg(2, 'agent')), true);
  assert.equal(t.upsert(msg(1, 'visitor')), true);
  assert.equal(t.upsert(msg(2, 'agent')), false, 'a repeat is not new');
  assert.deepEqual(t.items.map((m) => m.seq), [1, 2, null]);
  // the server's copy of the pending message replaces it in place, without a duplicate
  assert.equal(t.upsert(msg(3, 'visitor', { client_msg_id: 'mine-1', text: 'hello' })), false);
  assert.deepEqual(t.items.map((m) => m.seq), [1, 2, 3]);
  assert.equal(t.items[2].status, 'sent');
  assert.equal(t.lastSeq(), 3);
  assert.equal(t.pending().length, 0);
});

test('status moves sending -> failed -> sending for a pending message only', () => {
  const t = new Timeline();
  t.addPending('p1', 'hi', 'now');
  assert.equal(t.setStatus('p1', 'failed').status, 'failed');
  assert.equal(t.setStatus('nope', 'failed'), null);
  t.upsert(msg(1, 'visitor', { client_msg_id: 'p1' }));
  assert.equal(t.setStatus('p1', 'failed'), null, 'a stored message cannot fail any more');
});

test('unread counts agent messages after the read mark', () => {
  const t = new Timeline();
  [msg(1, 'visitor'), msg(2, 'agent'), msg(3, 'system'), msg(4, 'agent')].forEach((m) => t.upsert(m));
  assert.equal(t.unread(0), 2);
  assert.equal(t.unread(2), 1);
  assert.equal(t.unread(4), 0);
  assert.ok(t.agentAnswered());
});

test('the email prompt: now when nobody is online, after the wait otherwise, never once answered', () => {
  const base = { emailGiven: false, agentAnswered: false, firstVisitorAt: '2026-01-01T00:00:00Z', afterSeconds: 60 };
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(emailPromptDelay({ ...base, onlineAgents: 0, now: t0 }), 0);
  assert.equal(emailPromptDelay({ ...base, onlineAgents: 2, now: t0 + 15000 }), 45000);
  assert.equal(emailPromptDelay({ ...base, onlineAgents: 2, now: t0 + 90000 }), 0);
  assert.equal(emailPromptDelay({ ...base, onlineAgents: 0, agentAnswered: true, now: t0 }), null);
  assert.equal(emailPromptDelay({ ...base, onlineAgents: 0, emailGiven: true, now: t0 }), null);
  assert.equal(emailPromptDelay({ ...base, onlineAgents: 0, firstVisitorAt: null, now: t0 }), null);
});

test('the panel confirms a known email once the visitor has written, and asks when changing it', () => {
  const base = { granted: false, changing: false, email: 'sally@example.com', visitorWrote: true };
  assert.equal(emailView(base), 'confirm');
  assert.equal(emailView({ ...base, visitorWrote: false }), null); // an empty panel stays quiet
  assert.equal(emailView({ ...base, email: null }), null); // the prompt's own timing decides
  assert.equal(emailView({ ...base, changing: true }), 'change'); // "change it": the form again
  assert.equal(emailView({ ...base, email: null, changing: true }), 'change');
  // a continue link's panel never speaks about the person's address
  assert.equal(emailView({ ...base, granted: true }), null);
  assert.equal(emailView({ ...base, granted: true, changing: true }), null);
});

test('the loader queue replays in order and one bad call does not stop the rest', () => {
  const seen = [];
  const api = {
    identify: (id, traits) => seen.push(['identify', id, traits]),
    track: () => { throw new Error('boom'); },
    open: () => seen.push(['open']),
  };
  const errors = replayQueue([['identify', 'u1', { plan: 'pro' }], ['track', 'x'], ['nope'], null, ['open']], api);
  assert.deepEqual(seen, [['identify', 'u1', { plan: 'pro' }], ['open']]);
  assert.equal(errors.length, 1);
});

test('the header names who is online, and shows the away message when nobody is or hours are closed', () => {
  const ann = { name: 'Ann', avatar: null };
  const bo = { name: 'Bo', avatar: null };
  const away = 'Back at 9';
  assert.equal(presenceLine({ online_agents: 1, agents: [ann], away_message: away }, en), 'Ann is online');
  assert.equal(presenceLine({ online_agents: 2, agents: [ann, bo], open: true }, en), 'Ann & Bo are online');
  assert.equal(presenceLine({ online_agents: 1, agents: [{ name: null }] }, en), 'We\u2019re online');
  assert.equal(presenceLine({ online_agents: 0, agents: [], away_message: away }, en), away);
  assert.equal(presenceLine({ online_agents: 1, agents: [ann], away_message: away, open: false }, en), away);
  assert.equal(presenceLine({ online_agents: 0, agents: [] }, en), 'We\u2019re away right now. Leave a message.');
});

test('a message written as an email reply keeps its via, for the mail icon', () => {
  const t = new Timeline();
  t.upsert(msg(1, 'visitor', { via: 'email' }));
  t.upsert(msg(2, 'visitor'));
  assert.equal(t.items[0].via, 'email');
  assert.equal(t.items[1].via, null);
});
