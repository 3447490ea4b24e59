'use strict';
// The same action endpoint with @sap/xssec 4: XssecPassportStrategy on an
// XsuaaService made from the xsuaa binding, and checkLocalScope.
//
// Prints "listening <port>" once it accepts requests.

const express = require('express');
const passport = require('passport');
const xsenv = require('@sap/xsenv');
const { XsuaaService, XssecPassportStrategy } = require('@sap/xssec');

const services = xsenv.getServices({ uaa: { tag: 'xsuaa' } });
passport.use(new XssecPassportStrategy(new XsuaaService(services.uaa)));

const app = express();
app.use(passport.initialize());

app.post('/api/process',
  passport.authenticate('JWT', { session: false }),
  (req, res) => {
    if (!req.authInfo.checkLocalScope('JOBSCHEDULER')) {
      return res.status(403).send('Forbidden');
    }
    res.json({ processed: true, client: req.authInfo.getClientId() });
  });

const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
