#!/usr/bin/env bash
# Drives @sap/approuter (started with PRESERVE_FRAGMENT=false, so that a
# protected page answers with a plain 302) the way a browser would, with
# curl and a cookie jar, and checks every answer. The server's login
# cookies and approuter's share the jar, as in a browser: cookies do not
# isolate by port.
#
# Environment: AR (approuter base URL), UAA (the server's URL in the
# binding), ALICE_PW, BOB_PW (alice has the role collection Demo_Viewer,
# bob also Demo_Editor), XSAPPNAME, REFRESH_WAIT (seconds to wait for
# approuter's token refresh; 0 skips that step).
# Prints one line per check; exits non-zero at the first failure.
set -euo pipefail
: "${AR:?}" "${UAA:?}" "${ALICE_PW:?}" "${BOB_PW:?}" "${XSAPPNAME:?}"
REFRESH_WAIT=${REFRESH_WAIT:-0}
. "$(dirname "$0")/curl-lib.sh"

# login_as JAR USER PASSWORD PAGE: opens PAGE at approuter, logs in at the
# server's login page and follows the callback back to PAGE.
login_as() {
  local jar=$1 user=$2 pw=$3 page=$4
  read -r code authz < <(status "$jar" "$AR$page")
  expect "$user: $page redirects to the server" "$code ${authz%%\?*}" "302 $UAA/oauth/authorize"
  sign_in "$jar" "$authz" "$UAA" "$AR" "$page" "$user" "$pw"
}

A=$WORK/alice.jar
login_as "$A" alice "$ALICE_PW" /index.html
read -r code _ < <(status "$A" "$AR/index.html")
expect "alice: the protected page" "$code $(grep -c HOME-PAGE-OK "$WORK/body")" "200 1"
read -r code _ < <(status "$A" "$AR/admin/admin.html")
expect "alice: a route needing $XSAPPNAME.Edit is forbidden" "$code" "403"

read -r code _ < <(status "$A" "$AR/user-api/currentUser")
expect "alice: /user-api/currentUser" "$code $(body | jq -c '[.name, .firstname, .email, (.scopes | index("'"$XSAPPNAME"'.Display") != null)]')" \
  '200 ["alice","Alice","alice@example.com",true]'
read -r code _ < <(status "$A" "$AR/user-api/attributes")
expect "alice: /user-api/attributes (from /userinfo)" "$code $(body | jq -c '.Country')" '200 ["DE"]'

read -r code _ < <(status "$A" "$AR/api/whoami")
expect "alice: the backend's @sap/xssec view of the forwarded token" \
  "$code $(body | jq -c '[.getLogonName, .getEmail, .getUserName, .getOrigin, .checkLocalScope_Display, .checkLocalScope_Edit, .getAttribute_Country, .xsSystemAttributes["xs.rolecollections"], .getGrantType, .getGivenName, .getFamilyName]')" \
  '200 ["alice","alice@example.com","user/sap.default/alice","sap.default",true,false,["DE"],["Demo_Viewer"],"authorization_code","Alice","Example"]'
jti=$(body | jq -r .jti)

if [ -n "${CAP:-}" ]; then
  read -r code _ < <(status "$A" "$AR/cap/whoami()")
  expect "alice: CAP whoami() (@requires Viewer)" "$code $(body | jq -c '[.id, .viewer, .admin]')" '200 ["alice",true,false]'
  read -r code _ < <(status "$A" "$AR/cap/adminOnly()")
  expect "alice: CAP adminOnly() (@requires Admin) is forbidden" "$code" "403"
fi

if [ "$REFRESH_WAIT" -gt 0 ]; then
  sleep "$REFRESH_WAIT"
  read -r code _ < <(status "$A" "$AR/api/whoami")
  [ "$code" = 200 ] && [ "$(body | jq -r .jti)" != "$jti" ] || fail "alice: approuter did not refresh the token within ${REFRESH_WAIT}s ($code $(body))"
  ok "alice: approuter refreshed the token (refresh_token grant, new jti)"
fi

read -r code lo < <(status "$A" "$AR/do/logout")
expect "alice: approuter's logout goes to the server's /logout.do" "$code ${lo%%\?*}" "302 $UAA/logout.do"
read -r code back < <(status "$A" "$lo")
expect "alice: /logout.do returns to the logout page" "$code $back" "302 $AR/logged-out.html"
read -r code _ < <(status "$A" "$back")
expect "alice: the logout page" "$code $(grep -c LOGGED-OUT-OK "$WORK/body")" "200 1"
read -r code authz < <(status "$A" "$AR/index.html")
expect "alice: after logout the page redirects to the server again" "$code ${authz%%\?*}" "302 $UAA/oauth/authorize"
read -r code _ < <(status "$A" "$authz")
expect "alice: and the server asks for the password again" "$code $(grep -c 'action="/login.do"' "$WORK/body")" "200 1"

read -r code _ < <(status "$WORK/basic.jar" "$AR/basic/index.html" -u "alice:$ALICE_PW")
expect "alice: a basic route (password grant)" "$code $(grep -c HOME-PAGE-OK "$WORK/body")" "200 1"
read -r code _ < <(status "$WORK/basic2.jar" "$AR/basic/index.html" -u "alice:wrong-password")
expect "alice: a basic route with a wrong password" "$code" "401"

B=$WORK/bob.jar
login_as "$B" bob "$BOB_PW" /admin/admin.html
read -r code _ < <(status "$B" "$AR/admin/admin.html")
expect "bob: the route needing $XSAPPNAME.Edit" "$code $(grep -c ADMIN-PAGE-OK "$WORK/body")" "200 1"
if [ -n "${CAP:-}" ]; then
  read -r code _ < <(status "$B" "$AR/cap/adminOnly()")
  expect "bob: CAP adminOnly()" "$code $(body | jq -r .value)" "200 admin:bob"
fi
echo "all checks passed"
