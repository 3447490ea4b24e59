'use strict';
// Token exchange check: @sap/xssec (4.x) logs a user in at one app
// (fetchPasswordToken with front's credentials) and exchanges the token
// for one of the same user for another app (fetchJwtBearerToken with
// back's credentials), as approuter does for a route with a business
// service; back's security context must see the user and back's scope.
//
// Usage: node exchange.js cfg.json
//   cfg.json = {"front": {...credentials...}, "back": {...credentials...},
//               "user": "alice", "password": "..."}
//
// @sap/xssec is found through NODE_PATH; the server's CA comes from
// NODE_EXTRA_CA_CERTS. Prints "ok <name>" or "FAIL <name>: <error>" per
// check, then "N passed, M failed"; exits 1 on any failure.

const fs = require('fs');
const { XsuaaService, createSecurityContext } = require('@sap/xssec');
const { assert, assertEqual, run } = require('../checks');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const front = new XsuaaService(cfg.front);
const back = new XsuaaService(cfg.back);
let login, exchanged;

run({
  async loginAtFront() {
    login = await front.fetchPasswordToken(cfg.user, cfg.password);
    assert(login.scope.split(' ').includes('uaa.user'), `the login token lacks uaa.user: ${login.scope}`);
  },
  async fetchJwtBearerToken() {
    exchanged = await back.fetchJwtBearerToken(login.access_token);
    assert(exchanged.access_token && exchanged.refresh_token, 'access_token and refresh_token are required');
  },
  async backSeesTheUser() {
    const ctx = await createSecurityContext(back, { jwt: exchanged.access_token });
    assertEqual(ctx.getLogonName(), cfg.user, 'getLogonName()');
    assertEqual(ctx.getClientId(), cfg.back.clientid, 'getClientId()');
    assertEqual(ctx.getGrantType(), 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'getGrantType()');
    assert(ctx.checkLocalScope('Read'), 'checkLocalScope("Read") is false');
  },
  async frontRefusesBackToken() {
    let refused = false;
    try {
      await createSecurityContext(front, { jwt: exchanged.access_token });
    } catch (e) {
      refused = true;
    }
    assert(refused, "front accepted a token issued to back (audience)");
  },
});
