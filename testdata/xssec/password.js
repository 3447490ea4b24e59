'use strict';
// User login check: SAP's own @sap/xssec (4.x) must fetch user tokens with
// the password grant (fetchPasswordToken) and accept them unmodified, with
// the user's name, e-mail, origin, attributes, role collections and the
// scopes of the role collections; a wrong password must be refused.
//
// Usage: node password.js cfg.json
//   cfg.json = {"credentials": {...binding credentials...},
//               "user": "alice", "password": "...", "email": "...",
//               "givenName": "...", "familyName": "..."}
//   The user holds role collection Demo_Viewer (scope Display, attribute
//   Country = DE) of the app in the credentials, and not its Edit scope.
//
// @sap/xssec is found through NODE_PATH; the server's CA comes from
// NODE_EXTRA_CA_CERTS. Prints "ok <name>" or "FAIL <name>: <error>" per
// check, then "N passed, M failed"; exits 1 on any failure.

const fs = require('fs');
const { XsuaaService, createSecurityContext } = require('@sap/xssec');
const { assert, assertEqual, run } = require('../checks');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const service = new XsuaaService(cfg.credentials);
let response, ctx;

run({
  async fetchPasswordToken() {
    response = await service.fetchPasswordToken(cfg.user, cfg.password);
    assert(response.access_token, 'no access_token');
    assert(response.refresh_token && response.refresh_token.endsWith('-r'), `refresh_token ${response.refresh_token}`);
    assert(response.scope.split(' ').includes('openid'), `scope ${response.scope}`);
  },
  async createSecurityContext() {
    ctx = await createSecurityContext(service, { jwt: response.access_token });
  },
  async userGetters() {
    assertEqual(ctx.getLogonName(), cfg.user, 'getLogonName()');
    assertEqual(ctx.getEmail(), cfg.email, 'getEmail()');
    assertEqual(ctx.getGivenName(), cfg.givenName, 'getGivenName()');
    assertEqual(ctx.getFamilyName(), cfg.familyName, 'getFamilyName()');
    assertEqual(ctx.getOrigin(), 'sap.default', 'getOrigin()');
    assertEqual(ctx.getUserName(), `user/sap.default/${cfg.user}`, 'getUserName()');
    assertEqual(ctx.getGrantType(), 'password', 'getGrantType()');
    assertEqual(ctx.getClientId(), cfg.credentials.clientid, 'getClientId()');
    assertEqual(ctx.getZoneId(), cfg.credentials.identityzoneid, 'getZoneId()');
  },
  async scopesFromRoleCollections() {
    assert(ctx.checkLocalScope('Display'), 'checkLocalScope("Display") is false');
    assert(!ctx.checkLocalScope('Edit'), 'checkLocalScope("Edit") is true although no role collection gives it');
  },
  async attributesAndRoleCollections() {
    assertEqual(JSON.stringify(ctx.getAttribute('Country')), '["DE"]', 'getAttribute("Country")');
    const sys = ctx.token.xsSystemAttributes || {};
    assertEqual(JSON.stringify(sys['xs.rolecollections']), '["Demo_Viewer"]', 'xs.rolecollections');
  },
  async wrongPasswordRefused() {
    let refused = false;
    try {
      await service.fetchPasswordToken(cfg.user, cfg.password + '-wrong');
    } catch (e) {
      refused = true;
    }
    assert(refused, 'a wrong password got a token');
  },
});
