'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const zlib = require('node:zlib');

const source = fs.readFileSync(path.join(__dirname, '..', '..', 'services', 'gateway', 'widget', 'loader.js'), 'utf8');

function run(context) {
  const code = source.replace('__PARLEY_CONFIG__', JSON.stringify({ host: 'https://chat.example', writeKey: 'wk_1' }));
  vm.runInContext(code, context);
  return code;
}

function fakePage() {
  const scripts = [];
  const document = { createElement: () => ({}), head: { appendChild: (s) => scripts.push(s) } };
  const window = {};
  const context = vm.createContext({ window, document });
  return { context, window, scripts };
}

test('the loader queues calls and loads /widget.js once, async', () => {
  const page = fakePage();
  run(page.context);
  page.window.parley.identify('u1', { plan: 'pro' }, { userHash: 'h' });
  page.window.parley.open();
  assert.deepEqual(JSON.parse(JSON.stringify(page.window.parley)), [
    ['identify', 'u1', { plan: 'pro' }, { userHash: 'h' }],
    ['open'],
  ]);
  assert.equal(page.scripts.length, 1);
  assert.equal(page.scripts[0].src, 'https://chat.example/widget.js');
  assert.equal(page.scripts[0].async, true);
  assert.deepEqual(JSON.parse(JSON.stringify(page.window.parley.config)), { host: 'https://chat.example', writeKey: 'wk_1' });
});

test('a second copy of the snippet changes nothing', () => {
  const page = fakePage();
  run(page.context);
  page.window.parley.track('first');
  const stub = page.window.parley;
  run(page.context);
  assert.equal(page.window.parley, stub);
  assert.equal(page.scripts.length, 1);
  assert.equal(page.window.parley.length, 1);
});

test('the loader fits its budget of 1 KB gzipped', () => {
  const snippet = '<script>\n' + run(fakePage().context) + '\n</script>';
  const gz = zlib.gzipSync(snippet, { level: 9 }).length;
  console.log(`loader snippet: ${snippet.length} B, ${gz} B gzipped (budget 1024)`);
  assert.ok(gz <= 1024, `loader is ${gz} B gzipped, over the 1 KB budget`);
});
