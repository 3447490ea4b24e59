'use strict';
// X.509 check: SAP's own @sap/xssec (4.x) must fetch a token with an x509
// binding's certificate and key (mTLS to the binding's certurl, client_id
// and no secret), and accept that token unmodified.
//
// Usage: node x509.js cfg.json
//   cfg.json = {"credentials": {...x509 binding credentials...},
//               "foreignCertificate": "<PEM>", "foreignKey": "<PEM>"}
//   (a certificate and key that belong to no binding)
//
// @sap/xssec is found through NODE_PATH; the server's CA comes from
// NODE_EXTRA_CA_CERTS. Prints "ok <name>" or "FAIL <name>: <error>" per
// check, then "N passed, M failed"; exits 1 on any failure.

const fs = require('fs');
const crypto = require('crypto');
const xssec = require('@sap/xssec');
const { assert, assertEqual, run } = require('../checks');

const { XsuaaService, createSecurityContext } = xssec;

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const creds = cfg.credentials;

let token;

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

// ---- checks -------------------------------------------------------------

async function credentialsShape() {
  assertEqual(creds['credential-type'], 'x509', 'credential-type');
  assert(!creds.clientsecret, 'an x509 binding must not carry a clientsecret');
  assert(creds.certificate && creds.key && creds.certurl, 'certificate, key and certurl are required');
}

async function fetchClientCredentialsTokenWithCertificate() {
  const service = new XsuaaService(creds);
  const res = await service.fetchClientCredentialsToken();
  assert(res && typeof res.access_token === 'string' && res.access_token.split('.').length === 3,
    `no JWT access_token in ${JSON.stringify(res)}`);
  token = res.access_token;
}

async function tokenValidates() {
  assert(token, 'no token (fetch failed)');
  const service = new XsuaaService(creds);
  const ctx = await createSecurityContext(service, { jwt: token });
  assertEqual(ctx.getClientId(), creds.clientid, 'getClientId()');
  assertEqual(ctx.getZoneId(), creds.identityzoneid, 'getZoneId()');
  assertEqual(ctx.getGrantType(), 'client_credentials', 'getGrantType()');
}

async function tokenIsCertificateBound() {
  assert(token, 'no token (fetch failed)');
  const leaf = new crypto.X509Certificate(creds.certificate); // the first PEM block
  const want = crypto.createHash('sha256').update(leaf.raw).digest('base64url');
  const cnf = claimsOf(token).cnf;
  assert(cnf, 'token has no cnf claim');
  assertEqual(cnf['x5t#S256'], want, 'cnf.x5t#S256');
}

async function foreignCertificateRejected() {
  const service = new XsuaaService({ ...creds, certificate: cfg.foreignCertificate, key: cfg.foreignKey });
  let accepted = false;
  try {
    await service.fetchClientCredentialsToken();
    accepted = true;
  } catch (e) {
    assert(/401/.test(String(e && (e.message + ' ' + (e.responseCode || e.status || '')))) || e.responseCode === 401,
      `want a 401, got ${e && e.constructor && e.constructor.name}: ${e && e.message}`);
  }
  assert(!accepted, 'a certificate of no binding got a token');
}

const checks = [
  credentialsShape,
  fetchClientCredentialsTokenWithCertificate,
  tokenValidates,
  tokenIsCertificateBound,
  foreignCertificateRejected,
];

run(checks);
