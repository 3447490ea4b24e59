'use strict';
// Key rotation check: after `xsuaa keys rotate`, SAP's @sap/xssec must
// accept both a token signed with the old key (still published) and one
// signed with the new key, each carrying its own kid.
//
// Usage: node rotation.js cfg.json
//   cfg.json = {"credentials": {...}, "oldToken": "...", "newToken": "...",
//               "oldKid": "...", "newKid": "..."}
// @sap/xssec comes from NODE_PATH, the server's CA from NODE_EXTRA_CA_CERTS.
// Prints "ok <check>" / "FAIL <check>: <error>", then "N passed, M failed".

const fs = require('fs');
const xssec = require('@sap/xssec');
const { assert, run } = require('../checks');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

function kidOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8')).kid;
}

async function validates(jwt) {
  // A fresh service object: its JWKS cache is empty, as in an app that
  // starts after the rotation.
  const ctx = await xssec.createSecurityContext(new xssec.XsuaaService(cfg.credentials), { jwt });
  assert(ctx.getClientId() === cfg.credentials.clientid, `getClientId() ${ctx.getClientId()}`);
}

const checks = {
  async kids() {
    assert(cfg.oldKid !== cfg.newKid, 'old and new kid are equal');
    assert(kidOf(cfg.oldToken) === cfg.oldKid, `old token kid ${kidOf(cfg.oldToken)}, want ${cfg.oldKid}`);
    assert(kidOf(cfg.newToken) === cfg.newKid, `new token kid ${kidOf(cfg.newToken)}, want ${cfg.newKid}`);
  },
  async oldTokenValidates() { await validates(cfg.oldToken); },
  async newTokenValidates() { await validates(cfg.newToken); },
  async bothWithOneService() {
    // One service object (one JWKS cache) validates both.
    const service = new xssec.XsuaaService(cfg.credentials);
    for (const jwt of [cfg.oldToken, cfg.newToken]) {
      await xssec.createSecurityContext(service, { jwt });
    }
  },
  async tamperedRejected() {
    const [h, p, s] = cfg.newToken.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    claims.scope = ['admin'];
    const forged = [h, Buffer.from(JSON.stringify(claims)).toString('base64url'), s].join('.');
    let rejected = false;
    try { await validates(forged); } catch (e) { rejected = true; }
    assert(rejected, 'a tampered token validated');
  },
};

run(checks);
