# Shared by the curl drivers of approuter (approuter-curl.sh,
# approuter-tenants-curl.sh): a work directory, checks that print one line
# each and stop at the first failure, and curl with a cookie jar.
# Sourced; CACERT, if set, is the CA curl trusts.

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
expect() { # name got want
  [ "$2" = "$3" ] || fail "$1: got [$2], want [$3]"
  ok "$1"
}
# status JAR URL [curl args...]: prints "<status> <redirect URL>" and keeps
# the body for body and field; JAR "-" means no cookie jar (the cookies
# come from the args).
status() {
  local jar=$1 url=$2; shift 2
  local args=()
  [ "$jar" = - ] || args=(-c "$jar" -b "$jar")
  [ -z "${CACERT:-}" ] || args+=(--cacert "$CACERT")
  curl -sS "${args[@]}" -o "$WORK/body" -w '%{http_code} %{redirect_url}\n' "$@" "$url"
}
body() { cat "$WORK/body"; }
unhtml() { sed -e 's/&amp;/\&/g' -e 's/&#43;/+/g' -e 's/&#34;/"/g' -e "s/&#39;/'/g"; }
# field NAME: the value of the form field NAME in the last body.
field() { sed -n "s/.*name=\"$1\" value=\"\\([^\"]*\\)\".*/\\1/p" "$WORK/body" | head -1 | unhtml; }
# sign_in JAR AUTHZ UAA AR PAGE USER PASSWORD: follows approuter's
# authorize request AUTHZ to the login page of the server at UAA, signs
# USER in, and follows the code back through AR's /login/callback to PAGE.
sign_in() {
  local jar=$1 authz=$2 uaa=$3 ar=$4 page=$5 user=$6 pw=$7 code next cb back csrf cont origin
  read -r code _ < <(status "$jar" "$authz")
  expect "$user: the authorize request at $uaa shows the login form" "$code $(grep -c 'action="/login.do"' "$WORK/body")" "200 1"
  csrf=$(field X-Uaa-Csrf) cont=$(field continue) origin=$(field origin)
  [ -n "$csrf" ] && [ -n "$cont" ] || fail "$user: the login form has no CSRF token or continue field"
  read -r code next < <(status "$jar" "$uaa/login.do" --data-urlencode "X-Uaa-Csrf=$csrf" \
    --data-urlencode "continue=$cont" --data-urlencode "origin=$origin" \
    --data-urlencode "username=$user" --data-urlencode "password=$pw")
  expect "$user: the login returns to the authorize request" "$code $next" "302 $uaa$cont"
  read -r code cb < <(status "$jar" "$next")
  expect "$user: the authorize request redirects to the callback with a code" "$code ${cb%%\?code=*}" "302 $ar/login/callback"
  read -r code back < <(status "$jar" "$cb")
  expect "$user: the callback (the code exchanged at $uaa) returns to the page" "$code $back" "302 $ar$page"
}
