'use strict';
// A SaaS application's subscription callbacks, as SAP's SaaS provisioning
// service calls them (and xsuaa subscribe does): express with
// XssecPassportStrategy from @sap/xssec 4 on the xsuaa binding (VCAP_SERVICES),
// and a check of the Callback scope the application granted to
// $XSAPPNAME(application,sap-provisioning,tenant-onboarding). It records
// every call for the Go test (GET /calls).
//
//   GET    /callback/v1.0/dependencies         -> [{"xsappname": "audit-log!b1"}]
//   PUT    /callback/v1.0/tenants/:tenantId    -> the tenant's application URL (text)
//   DELETE /callback/v1.0/tenants/:tenantId
//
// Subdomain "failing": PUT answers 500. Subdomain "sticky": DELETE answers
// 500. Prints "listening <port>" once it accepts requests.

const express = require('express');
const passport = require('passport');
const xsenv = require('@sap/xsenv');
const { XsuaaService, XssecPassportStrategy } = require('@sap/xssec');

const services = xsenv.getServices({ uaa: { tag: 'xsuaa' } });
passport.use(new XssecPassportStrategy(new XsuaaService(services.uaa)));

const calls = [];
const app = express();
app.use(express.json());
app.get('/calls', (req, res) => res.json(calls));
app.use('/callback', passport.initialize(), passport.authenticate('JWT', { session: false }), (req, res, next) => {
  const ctx = req.authInfo;
  const call = {
    method: req.method, path: req.path, body: req.body && Object.keys(req.body).length ? req.body : undefined,
    token: { zid: ctx.getZoneId(), clientId: ctx.getClientId(), grantType: ctx.getGrantType(), callback: ctx.checkLocalScope('Callback') },
  };
  calls.push(call);
  if (!call.token.callback) {
    return res.status(403).send('the Callback scope is missing');
  }
  next();
});
app.get('/callback/v1.0/dependencies', (req, res) => res.json([{ xsappname: 'audit-log!b1' }]));
app.put('/callback/v1.0/tenants/:tenantId', (req, res) => {
  const b = req.body;
  if (b.subscribedTenantId !== req.params.tenantId) {
    return res.status(400).send('subscribedTenantId differs from the path');
  }
  if (b.subscribedSubdomain === 'failing') {
    return res.status(500).send('onboarding failed');
  }
  res.type('text/plain').send(`https://${b.subscribedSubdomain}-shop.app.localhost:5000`);
});
app.delete('/callback/v1.0/tenants/:tenantId', (req, res) => {
  if (req.body.subscribedSubdomain === 'sticky') {
    return res.status(500).send('offboarding failed');
  }
  res.send('');
});

const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
