'use strict';
// The runner shared by the Node.js checks that the Go tests run against the
// real server (testdata/xssec/*.js, testdata/xsenv/*.js).
//
// run(checks) takes an array of named async functions or an object of them,
// runs them in order, prints "ok <name>" or "FAIL <name>: <error>" for each
// and then "N passed, M failed" (the line the Go side looks for), and exits
// 1 on any failure.

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function assertEqual(actual, expected, what) {
  assert(actual === expected, `${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
}

function versions() {
  const out = [];
  for (const p of ['@sap/xssec', '@sap/xsenv']) {
    try {
      out.push(`${p} ${require(`${p}/package.json`).version}`);
    } catch (e) {
      // not installed: not needed by this script
    }
  }
  return [...out, `node ${process.version}`].join(', ');
}

async function run(checks) {
  const list = Array.isArray(checks) ? checks.map((f) => [f.name, f]) : Object.entries(checks);
  console.log(versions());
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of list) {
    try {
      await fn();
      console.log(`ok ${name}`);
      passed++;
    } catch (e) {
      const cls = e && e.constructor ? e.constructor.name : 'Error';
      console.log(`FAIL ${name}: ${cls}: ${e && e.message}`);
      failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  // Exit now: library caches may hold timers or keep-alive sockets.
  process.exit(failed ? 1 : 0);
}

module.exports = { assert, assertEqual, run };
