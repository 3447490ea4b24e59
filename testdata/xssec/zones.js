'use strict';
// Identity zones with SAP's @sap/xssec 4: an instance created in a zone
// (xsuaa create-service --zone) fetches tokens at its credentials' url
// (the tenant host https://<subdomain>.<uaadomain>), with {tenant} and
// with {zid} (X-Zid on the bare uaadomain); every token names the zone and
// validates with createSecurityContext, which fetches the keys at the
// bare uaadomain with ?zid=. A validly signed token of a zone that no
// longer exists is rejected (the server answers ?zid= of it with 400).
//
// Usage: node zones.js cfg.json
//   cfg.json = {"credentials": {...}, "zone": {"id", "subdomain"},
//               "goneCredentials": {...}, "goneZoneToken": "..."}
// @sap/xssec comes from NODE_PATH, the server's CA from NODE_EXTRA_CA_CERTS.

require('../localhost-resolver');
const fs = require('fs');
const xssec = require('@sap/xssec');
const { assert, assertEqual, run } = require('../checks');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const creds = cfg.credentials;
const zoneURL = `https://${cfg.zone.subdomain}.${creds.uaadomain}`;

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

async function tokenNamesZone(options) {
  const service = new xssec.XsuaaService(creds);
  const res = await service.fetchClientCredentialsToken(options);
  const c = claimsOf(res.access_token);
  assertEqual(c.zid, cfg.zone.id, 'zid');
  assertEqual(c.ext_attr.zdn, cfg.zone.subdomain, 'ext_attr.zdn');
  assertEqual(c.iss, `${zoneURL}/oauth/token`, 'iss');
  // A fresh service object: the keys are fetched for this zone.
  const ctx = await xssec.createSecurityContext(new xssec.XsuaaService(creds), { jwt: res.access_token });
  assertEqual(ctx.getZoneId(), cfg.zone.id, 'getZoneId()');
  assertEqual(ctx.getSubdomain(), cfg.zone.subdomain, 'getSubdomain()');
  assertEqual(ctx.getClientId(), creds.clientid, 'getClientId()');
}

run({
  async credentialsNameTheZone() {
    assertEqual(creds.url, zoneURL, 'url');
    assertEqual(creds.identityzone, cfg.zone.subdomain, 'identityzone');
    assertEqual(creds.identityzoneid, cfg.zone.id, 'identityzoneid');
  },
  async atTheCredentialsURL() { await tokenNamesZone(); },
  async withTenant() { await tokenNamesZone({ tenant: cfg.zone.subdomain }); },
  async withZid() { await tokenNamesZone({ zid: cfg.zone.id }); },
  async unknownZoneRejected() {
    // The deleted zone's own credentials: only its keys are missing.
    let rejected;
    try {
      await xssec.createSecurityContext(new xssec.XsuaaService(cfg.goneCredentials), { jwt: cfg.goneZoneToken });
    } catch (e) {
      rejected = e;
    }
    assert(rejected, 'a token of a deleted zone validated');
    assert(/responded with 400/.test(rejected.message) && rejected.message.includes('unknown identity zone'),
      `rejected for another reason: ${rejected.name}: ${rejected.message}`);
  },
});
