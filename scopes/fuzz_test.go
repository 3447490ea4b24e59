package scopes

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that it fails only with a
// *ValidationError, and that a descriptor it accepts survives a round trip
// through encoding/json.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "descriptors", "*"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no seed descriptors in testdata/descriptors")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		``,
		`null`,
		`[]`,
		`{`,
		`{"xsappname":"a",}`,
		`{"xsappname":"a"} {}`,
		`{"xsappname":"a","xsappname":"b"}`,
		`{"xsappname":"a","scopes":[{"name":"$XSAPPNAME(application,b).x","granted-apps":["$XSSERVICENAME(x"]}]}`,
		`{"xsappname":"a","role-templates":[{"name":"r","attribute-references":["x",{"name":"y"},3]}]}`,
		`{"xsappname":"a","oauth2-configuration":{"token-validity":1e3,"autoapprove":"true","credential-types":["x509","x509"]}}`,
		"\xef\xbb\xbf{\"xsappname\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse error %v is a %T, not a *ValidationError", err, err)
			}
			if d != nil {
				t.Fatal("Parse returned both a descriptor and an error")
			}
			return
		}
		again, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("re-marshalling the parsed descriptor: %v", err)
		}
		if len(again) > MaxDescriptorSize {
			return // escaping made it larger than Parse accepts
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("re-parsing the re-marshalled descriptor %s: %v", again, err)
		}
	})
}
