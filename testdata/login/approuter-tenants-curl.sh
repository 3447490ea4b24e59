#!/usr/bin/env bash
# Drives one @sap/approuter started with TENANT_HOST_PATTERN='^(.*)\.app\.localhost$'
# (and PRESERVE_FRAGMENT=false) in front of a "tenant-mode": "shared"
# instance subscribed in zones t1 and t2, with curl and a cookie jar per
# user, as a browser would: curl resolves *.localhost to loopback itself.
#
#   http://t1.app.localhost:$AR_PORT -> approuter logs in at $UAA_T1 (https://t1.localhost:<port>)
#   http://t2.app.localhost:$AR_PORT -> approuter logs in at $UAA_T2
#
# Checks: alice (a user of t1) and bob (a user of t2) log in at their
# tenant's approuter host; the xssec backend behind approuter sees their
# zone's zid and subdomain; approuter refuses a session cookie of one
# tenant's host at the other's (403; approuter logs "You cannot use
# session from another tenant."); the basic route uses the tenant's
# password grant; logout goes to the tenant's /logout.do; a host without a
# tenant logs in at the bare (provider) host $UAA.
#
# Environment: AR_PORT, UAA, UAA_T1, UAA_T2, CACERT (the server's CA),
# ZID_T1, ZID_T2, ALICE_PW, BOB_PW, XSAPPNAME.
# Prints one line per check; exits non-zero at the first failure.
set -euo pipefail
: "${AR_PORT:?}" "${UAA:?}" "${UAA_T1:?}" "${UAA_T2:?}" "${CACERT:?}" "${ZID_T1:?}" "${ZID_T2:?}" \
  "${ALICE_PW:?}" "${BOB_PW:?}" "${XSAPPNAME:?}"
AR_T1=http://t1.app.localhost:$AR_PORT
AR_T2=http://t2.app.localhost:$AR_PORT
. "$(dirname "$0")/curl-lib.sh"
uri() { jq -rn --arg v "$1" '$v | @uri'; }
# session JAR HOST: approuter's session cookie for HOST in JAR.
session() { awk -v h="$2" '($1 == h || $1 == "#HttpOnly_" h) && $6 == "JSESSIONID" { print $7 }' "$1"; }

# login_as JAR AR UAA USER PASSWORD PAGE: opens PAGE at the tenant's
# approuter host AR, logs in at the tenant's login page (UAA) and follows
# the callback back to PAGE.
login_as() {
  local jar=$1 ar=$2 uaa=$3 user=$4 pw=$5 page=$6
  read -r code authz < <(status "$jar" "$ar$page")
  expect "$user: $ar$page redirects to the tenant's /oauth/authorize" "$code ${authz%%\?*}" "302 $uaa/oauth/authorize"
  case "$authz" in
  *"redirect_uri=$(uri "$ar/login/callback")"*) ok "$user: approuter asks for a code back at $ar/login/callback" ;;
  *) fail "$user: the authorize request's redirect_uri is not $ar/login/callback: $authz" ;;
  esac
  sign_in "$jar" "$authz" "$uaa" "$ar" "$page" "$user" "$pw"
}

# whoami JAR AR: the backend's @sap/xssec view of the token approuter forwards.
whoami() {
  read -r code _ < <(status "$1" "$2/api/whoami")
  echo "$code $(body | jq -c '[.getLogonName, .getZoneId, .getSubdomain, .checkLocalScope_Display, .getGrantType, .getClientId != null]')"
}

A=$WORK/alice.jar B=$WORK/bob.jar
login_as "$A" "$AR_T1" "$UAA_T1" alice "$ALICE_PW" /index.html
read -r code _ < <(status "$A" "$AR_T1/index.html")
expect "alice at t1: the protected page" "$code $(grep -c HOME-PAGE-OK "$WORK/body")" "200 1"
expect "alice at t1: xssec behind approuter sees zone t1" "$(whoami "$A" "$AR_T1")" \
  "200 [\"alice\",\"$ZID_T1\",\"t1\",true,\"authorization_code\",true]"
read -r code _ < <(status "$A" "$AR_T1/user-api/currentUser")
expect "alice at t1: /user-api/currentUser" "$code $(body | jq -c '[.name, (.scopes | index("'"$XSAPPNAME"'.Display") != null)]')" \
  '200 ["alice",true]'

login_as "$B" "$AR_T2" "$UAA_T2" bob "$BOB_PW" /index.html
read -r code _ < <(status "$B" "$AR_T2/index.html")
expect "bob at t2: the protected page" "$code $(grep -c HOME-PAGE-OK "$WORK/body")" "200 1"
expect "bob at t2: xssec behind approuter sees zone t2" "$(whoami "$B" "$AR_T2")" \
  "200 [\"bob\",\"$ZID_T2\",\"t2\",true,\"authorization_code\",true]"

# Cross-tenant: a browser would not send t1.app.localhost's host-only
# cookie to t2.app.localhost; send it anyway. Approuter must not serve
# t2's pages (or forward alice's t1 token to t2's backend).
sid_a=$(session "$A" t1.app.localhost) sid_b=$(session "$B" t2.app.localhost)
[ -n "$sid_a" ] && [ -n "$sid_b" ] || fail "no approuter session cookie in the jars"
# Approuter answers 403 "Forbidden" and logs why ("... completed with
# status 403 You cannot use session from another tenant."; the Go test
# checks its log).
for path in /index.html /api/whoami; do
  read -r code _ < <(status - "$AR_T2$path" -b "JSESSIONID=$sid_a")
  expect "alice's t1 session at t2$path is refused" "$code $(body)" "403 Forbidden"
done
read -r code _ < <(status - "$AR_T1/api/whoami" -b "JSESSIONID=$sid_b")
expect "bob's t2 session at t1/api/whoami is refused" "$code $(body)" "403 Forbidden"
# Each session still works at its own tenant.
expect "alice at t1 afterwards" "$(whoami "$A" "$AR_T1")" "200 [\"alice\",\"$ZID_T1\",\"t1\",true,\"authorization_code\",true]"
expect "bob at t2 afterwards" "$(whoami "$B" "$AR_T2")" "200 [\"bob\",\"$ZID_T2\",\"t2\",true,\"authorization_code\",true]"

# The basic route: approuter's password grant goes to the tenant's token
# endpoint, where only the tenant's users exist.
read -r code _ < <(status "$WORK/basic1.jar" "$AR_T2/basic/index.html" -u "bob:$BOB_PW")
expect "bob: the basic route at t2 (password grant in t2)" "$code $(grep -c HOME-PAGE-OK "$WORK/body")" "200 1"
read -r code _ < <(status "$WORK/basic2.jar" "$AR_T2/basic/index.html" -u "alice:$ALICE_PW")
expect "alice (a user of t1): the basic route at t2" "$code" "401"

# Logout at t1 ends alice's sessions at approuter and at t1's login host.
read -r code lo < <(status "$A" "$AR_T1/do/logout")
expect "alice: logout goes to t1's /logout.do" "$code ${lo%%\?*}" "302 $UAA_T1/logout.do"
read -r code back < <(status "$A" "$lo")
expect "alice: t1's /logout.do returns to t1's logout page" "$code $back" "302 $AR_T1/logged-out.html"
read -r code authz < <(status "$A" "$AR_T1/index.html")
expect "alice: after logout t1's page redirects to t1's authorize again" "$code ${authz%%\?*}" "302 $UAA_T1/oauth/authorize"
read -r code _ < <(status "$A" "$authz")
expect "alice: and t1 asks for the password again" "$code $(grep -c 'action="/login.do"' "$WORK/body")" "200 1"
expect "bob at t2 is still logged in" "$(whoami "$B" "$AR_T2")" "200 [\"bob\",\"$ZID_T2\",\"t2\",true,\"authorization_code\",true]"

# A host the pattern finds no tenant in: approuter uses the binding's own
# url, the provider zone's bare host.
read -r code authz < <(status "$WORK/provider.jar" "http://127.0.0.1:$AR_PORT/index.html")
expect "a host without a tenant redirects to the bare host's /oauth/authorize" "$code ${authz%%\?*}" "302 $UAA/oauth/authorize"
echo "all checks passed"
