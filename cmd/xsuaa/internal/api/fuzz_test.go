package api

import (
	"encoding/json"
	"testing"
)

// FuzzParseCredentials feeds ParseCredentials the files `xsuaa token -k`
// reads: it must never panic, and credentials it accepts have a clientid
// key and marshal back to JSON.
func FuzzParseCredentials(f *testing.F) {
	for _, seed := range []string{
		`{"clientid":"sb-a!t1","clientsecret":"s","url":"https://localhost:8443"}`,
		`{"credentials":{"clientid":"sb-a!t1"}}`,
		`{"xsuaa":[{"name":"a","credentials":{"clientid":"sb-a!t1"}}]}`,
		`{"VCAP_SERVICES":{"xsuaa":[{"credentials":{"clientid":"x"}}]}}`,
		`{"VCAP_SERVICES":"{\"xsuaa\":[]}"}`,
		`{"xsuaa":[{},{}]}`,
		`{"credentials":{"credentials":{"credentials":{}}}}`,
		`[]`, `null`, `"x"`, `{"clientid":1}`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCredentials(b)
		if err != nil {
			return
		}
		if _, ok := c["clientid"]; !ok {
			t.Fatalf("accepted credentials without clientid: %s", b)
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("accepted credentials do not marshal: %v", err)
		}
	})
}

// FuzzParseEnv feeds ParseEnv default-env.json files: it must never
// panic, and what it accepts survives a write and a read.
func FuzzParseEnv(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"PORT":5000,"VCAP_SERVICES":{"xsuaa":[{"name":"a","credentials":{}}]}}`,
		`{"VCAP_SERVICES":"{\"destination\":[{\"name\":\"d\"}]}"}`,
		`{"VCAP_SERVICES":null}`,
		`{"VCAP_SERVICES":{"xsuaa":{}}}`,
		`{"VCAP_SERVICES":"not json"}`,
		`null`, `[]`, `{"a":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, vcap, err := ParseEnv(b)
		if err != nil {
			return
		}
		if env == nil || vcap == nil {
			t.Fatal("accepted input returned nil maps")
		}
		v, err := json.Marshal(vcap)
		if err != nil {
			t.Fatal(err)
		}
		env["VCAP_SERVICES"] = v
		out, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		if _, vcap2, err := ParseEnv(out); err != nil || len(vcap2) != len(vcap) {
			t.Fatalf("round trip: %v, %d labels, want %d", err, len(vcap2), len(vcap))
		}
	})
}
