'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { makeStore } = require('../../services/gateway/widget/lib/store.js');

function browser() {
  const touched = [];
  const local = new Map();
  const win = {
    location: { protocol: 'https:' },
    get localStorage() {
      touched.push('localStorage');
      return {
        getItem: (k) => (local.has(k) ? local.get(k) : null),
        setItem: (k, v) => local.set(k, String(v)),
        removeItem: (k) => local.delete(k),
      };
    },
    document: {
      get cookie() { touched.push('cookie'); return ''; },
      set cookie(v) { touched.push('cookie'); },
    },
  };
  return { win, touched, local };
}

test('a continue link keeps nothing in the browser: its store never touches storage or cookies', () => {
  const { win, touched, local } = browser();
  local.set('parley_visitor', JSON.stringify({ token: 'the-device-own-token', visitor_id: 'v1' }));
  const store = makeStore(win, true);
  assert.equal(store.get('token'), undefined); // the device's own visitor is not read
  store.set('token', null);
  store.set('outbox', [{ client_msg_id: 'c1', text: 'hi' }]);
  assert.deepEqual(store.get('outbox'), [{ client_msg_id: 'c1', text: 'hi' }]);
  store.clear();
  assert.equal(store.get('outbox'), undefined);
  assert.deepEqual(touched, []);
  assert.equal(JSON.parse(local.get('parley_visitor')).token, 'the-device-own-token');
});

test('the ordinary store keeps the visitor in the host page\'s localStorage', () => {
  const { win, local } = browser();
  const store = makeStore(win);
  store.set('token', 't1');
  assert.equal(JSON.parse(local.get('parley_visitor')).token, 't1');
  assert.equal(makeStore(win).get('token'), 't1');
});
