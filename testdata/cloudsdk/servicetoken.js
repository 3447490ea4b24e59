'use strict';
// The SAP Cloud SDK for JavaScript against the server:
// serviceToken('xsuaa', { jwt }) of @sap-cloud-sdk/connectivity, given a
// user's token of a tenant, fetches a client_credentials token of that
// tenant with the binding of a shared (multi-tenant) instance.
//
// How the SDK (4.x) does it, read from its source and pinned here by the
// requests it sends (recorded below):
//   * the binding: serviceToken('xsuaa') finds it with @sap/xsenv
//     (VCAP_SERVICES, label xsuaa); a Service object works the same way;
//   * the tenant: the JWT is decoded, not verified. Its zid goes to
//     @sap/xssec's fetchClientCredentialsToken({ zid }), which posts to the
//     bare https://<uaadomain>/oauth/token with an x-zid header. Only a
//     JWT without zid is addressed by subdomain (ext_attr.zdn, else the
//     first label of iss): https://<zdn>.<uaadomain>/oauth/token, which
//     needs the *.localhost preload resolver here;
//   * without a JWT: the binding's url, no x-zid (the binding's zone);
//   * the cache: per (tenant, clientid), the tenant being the JWT's zid
//     (or subdomain), without a JWT the binding's tenantid.
//
// Usage: node servicetoken.js cfg.json
//   cfg.json = {"credentials": {...},             the binding (also in VCAP_SERVICES)
//               "home": {"id", "subdomain", "url"}, the binding's own zone
//               "tenants": [{"id", "subdomain", "url", "user", "password"}, ...],
//               "unsubscribed": {"id", "subdomain"}}  a zone the instance is not in
// The libraries come from NODE_PATH, the server's CA from NODE_EXTRA_CA_CERTS.

require('../localhost-resolver');
const fs = require('fs');
const https = require('https');
const path = require('path');
const xssec = require('@sap/xssec');
const { serviceToken } = require('@sap-cloud-sdk/connectivity');
const { assert, assertEqual, run } = require('../checks');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const creds = cfg.credentials;
const bareHost = creds.uaadomain;

// Every token request sent from here on (xssec sends them with
// https.request): method, host, path and x-zid header.
let sent = [];
const request = https.request;
https.request = function recordedRequest(...args) {
  const target = args.find((a) => typeof a === 'string' || a instanceof URL);
  const opts = args.find((a) => a && typeof a === 'object' && !(a instanceof URL)) || {};
  const u = target ? new URL(target) : new URL(`https://${opts.host || opts.hostname}:${opts.port}${opts.path}`);
  const headers = Object.fromEntries(Object.entries(opts.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
  if (u.pathname === '/oauth/token') {
    sent.push({ method: opts.method || 'GET', host: u.host, xZid: headers['x-zid'] });
  }
  return request.apply(this, args);
};

// sentBy runs fn and returns its result and the token requests it sent.
async function sentBy(fn) {
  sent = [];
  const result = await fn();
  const requests = sent;
  sent = [];
  return [result, requests];
}

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

function assertOneRequest(requests, host, xZid, what) {
  assertEqual(requests.length, 1, `${what}: token requests sent`);
  assertEqual(requests[0].method, 'POST', `${what}: method`);
  assertEqual(requests[0].host, host, `${what}: host`);
  assertEqual(requests[0].xZid, xZid, `${what}: x-zid header`);
}

// assertZoneToken checks that a client_credentials token of the binding's
// client names zone z and validates with @sap/xssec (keys of ?zid=).
async function assertZoneToken(token, z, what) {
  const c = claimsOf(token);
  assertEqual(c.grant_type, 'client_credentials', `${what}: grant_type`);
  assertEqual(c.client_id, creds.clientid, `${what}: client_id`);
  assertEqual(c.zid, z.id, `${what}: zid`);
  assertEqual(c.iss, `${z.url}/oauth/token`, `${what}: iss`);
  assertEqual(c.ext_attr && c.ext_attr.zdn, z.subdomain, `${what}: ext_attr.zdn`);
  const ctx = await xssec.createSecurityContext(new xssec.XsuaaService(creds), { jwt: token });
  assertEqual(ctx.getZoneId(), z.id, `${what}: getZoneId()`);
  assertEqual(ctx.getSubdomain(), z.subdomain, `${what}: getSubdomain()`);
}

const userTokens = {}; // subdomain -> a user's access token in that zone
const ccTokens = {}; // subdomain -> serviceToken's token for that user token

const checks = {
  async bindingFromVCAP() {
    // No JWT: the binding's own zone, at the binding's url.
    const [token, requests] = await sentBy(() => serviceToken('xsuaa', { useCache: false }));
    assertOneRequest(requests, new URL(creds.url).host, undefined, 'without a JWT');
    await assertZoneToken(token, cfg.home, 'without a JWT');
  },
};

for (const z of cfg.tenants) {
  checks[`userTokenIn_${z.subdomain}`] = async () => {
    // The password grant at the zone's tenant host (the binding's url in
    // its own zone): a user's token, as the app receives it.
    const service = new xssec.XsuaaService(creds);
    const options = z.id === cfg.home.id ? {} : { tenant: z.subdomain };
    if (z.id !== cfg.home.id) assertEqual(z.url, `https://${z.subdomain}.${bareHost}`, 'the zone URL');
    const [res, requests] = await sentBy(() => service.fetchPasswordToken(z.user, z.password, options));
    assertOneRequest(requests, new URL(z.url).host, undefined, 'password grant');
    const c = claimsOf(res.access_token);
    assertEqual(c.grant_type, 'password', 'grant_type');
    assertEqual(c.user_name, z.user, 'user_name');
    assertEqual(c.zid, z.id, 'zid');
    assertEqual(c.ext_attr && c.ext_attr.zdn, z.subdomain, 'ext_attr.zdn');
    userTokens[z.subdomain] = res.access_token;
  };
  checks[`serviceTokenFor_${z.subdomain}`] = async () => {
    const jwt = userTokens[z.subdomain];
    assert(jwt, 'no user token');
    const [token, requests] = await sentBy(() => serviceToken('xsuaa', { jwt }));
    // The zone by x-zid on the bare uaadomain, never by subdomain.
    assertOneRequest(requests, bareHost, z.id, `serviceToken for ${z.subdomain}`);
    await assertZoneToken(token, z, `serviceToken for ${z.subdomain}`);
    ccTokens[z.subdomain] = token;
  };
}

Object.assign(checks, {
  async cachedPerTenant() {
    const seen = new Set();
    for (const z of cfg.tenants) {
      const [token, requests] = await sentBy(() => serviceToken('xsuaa', { jwt: userTokens[z.subdomain] }));
      assertEqual(requests.length, 0, `token requests for ${z.subdomain}'s second serviceToken`);
      assert(token === ccTokens[z.subdomain], `the second serviceToken for ${z.subdomain} is not the cached token`);
      seen.add(token);
    }
    assertEqual(seen.size, cfg.tenants.length, 'distinct tokens, one a tenant');
  },
  async useCacheFalseFetchesAgain() {
    const z = cfg.tenants[cfg.tenants.length - 1];
    const [token, requests] = await sentBy(() => serviceToken('xsuaa', { jwt: userTokens[z.subdomain], useCache: false }));
    assertOneRequest(requests, bareHost, z.id, 'useCache: false');
    assert(claimsOf(token).jti !== claimsOf(ccTokens[z.subdomain]).jti, 'useCache: false returned the cached token');
    await assertZoneToken(token, z, 'useCache: false');
  },
  async explicitBinding() {
    // A Service object instead of the VCAP_SERVICES lookup.
    const z = cfg.tenants[cfg.tenants.length - 1];
    const binding = { name: 'explicit', label: 'xsuaa', tags: ['xsuaa'], credentials: creds };
    const [token, requests] = await sentBy(() => serviceToken(binding, { jwt: userTokens[z.subdomain], useCache: false }));
    assertOneRequest(requests, bareHost, z.id, 'an explicit binding');
    await assertZoneToken(token, z, 'an explicit binding');
  },
});

for (const z of cfg.tenants) {
  checks[`bySubdomain_${z.subdomain}`] = async () => {
    // A JWT without zid: the SDK addresses the tenant by its subdomain
    // (ext_attr.zdn) at https://<zdn>.<uaadomain>, without x-zid (the
    // provider zone too: its tenant host names it as the bare host does).
    const { zid, ...withoutZid } = claimsOf(userTokens[z.subdomain]);
    assertEqual(zid, z.id, 'the user token zid');
    const [token, requests] = await sentBy(() => serviceToken('xsuaa', { jwt: withoutZid, useCache: false }));
    assertOneRequest(requests, `${z.subdomain}.${bareHost}`, undefined, 'by subdomain');
    await assertZoneToken(token, z, 'by subdomain');
  };
}

checks.unsubscribedZoneRefused = async () => {
  const u = cfg.unsubscribed;
  let err;
  const [, requests] = await sentBy(() =>
    serviceToken('xsuaa', { jwt: { zid: u.id, ext_attr: { zdn: u.subdomain } }, useCache: false }).catch((e) => {
      err = e;
    }));
  assertOneRequest(requests, bareHost, u.id, 'a zone the instance is not in');
  assert(err, 'got a token for a zone the instance is not in');
  const chain = [];
  for (let e = err; e; e = e.cause) chain.push(e.message);
  assert(/\b401\b/.test(chain.join(' | ')), `refused for another reason: ${chain.join(' | ')}`);
};

// package.json is not among the package's exports: read it beside dist/.
const sdkPackage = path.join(path.dirname(require.resolve('@sap-cloud-sdk/connectivity')), '..', 'package.json');
console.log(`@sap-cloud-sdk/connectivity ${JSON.parse(fs.readFileSync(sdkPackage, 'utf8')).version}`);
run(checks);
