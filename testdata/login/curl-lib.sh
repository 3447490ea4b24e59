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
