package server

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// TestQueryValues checks that queryValues gives what parsing the query
// string again gives, with keys in the body, the query or both.
func TestQueryValues(t *testing.T) {
	for _, tc := range []struct{ query, body string }{
		{"", "grant_type=client_credentials"},
		{"grant_type=client_credentials", ""},
		{"grant_type=password&scope=a", "grant_type=client_credentials&client_id=x"},
		{"a=1&a=2&b=&c", "a=0&b=1&b=2"},
		{"x=%41%20b&y=1", "y=2"},
	} {
		target := "/oauth/token"
		if tc.query != "" {
			target += "?" + tc.query
		}
		r := httptest.NewRequest("POST", target, strings.NewReader(tc.body))
		r.Header.Set("Content-Type", formType)
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		got, want := queryValues(r), r.URL.Query()
		if tc.query == "" {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("query %q body %q: %v, want %v", tc.query, tc.body, got, want)
		}
	}
}
