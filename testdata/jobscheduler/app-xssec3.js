'use strict';
// An action endpoint protected as SAP's Job Scheduling service security
// guide shows it: express, passport, JWTStrategy from @sap/xssec 3.x, the
// xsuaa binding read with @sap/xsenv, and a check for the scope the
// application granted to its Job Scheduling instance. The Go test binds
// this app (VCAP_SERVICES), starts it, and calls /api/process with the
// tokens the Job Scheduling instance's clone fetches.
//
// Prints "listening <port>" once it accepts requests.

const express = require('express');
const passport = require('passport');
const xsenv = require('@sap/xsenv');
const JWTStrategy = require('@sap/xssec').JWTStrategy;

const services = xsenv.getServices({ uaa: { tag: 'xsuaa' } });
passport.use(new JWTStrategy(services.uaa));

const app = express();
app.use(passport.initialize());

app.post('/api/process',
  passport.authenticate('JWT', { session: false }),
  (req, res) => {
    if (!req.authInfo.checkScope('$XSAPPNAME.JOBSCHEDULER')) {
      return res.status(403).send('Forbidden');
    }
    res.json({ processed: true, client: req.authInfo.getClientId() });
  });

const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
