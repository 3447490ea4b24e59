package scopes

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	xsuaa "github.com/openxsuaa/xsuaa"
)

// MaxDescriptorSize is the size in bytes of the largest descriptor Parse
// accepts (1 MiB).
const MaxDescriptorSize = 1 << 20

// maxGrantingScopes is how many scopes may use granted-apps or
// grant-as-authority-to-apps.
const maxGrantingScopes = 250

// maxListedProblems is how many problems ValidationError.Error spells out.
const maxListedProblems = 10

// The variables a descriptor may use.
const (
	variableXSAppName         = "$XSAPPNAME"
	variableXSServiceName     = "$XSSERVICENAME"
	variableAcceptAuthorities = "$ACCEPT_GRANTED_AUTHORITIES"
	variableAcceptScopes      = "$ACCEPT_GRANTED_SCOPES"
)

// ValidationError lists every problem found in a descriptor.
type ValidationError struct {
	Problems []Problem
}

// Problem names the offending place in the descriptor and the rule it breaks.
type Problem struct {
	// Path locates the offending value, e.g. "scopes[2].name"; "" is the
	// document itself, and an unknown field is named by its own path, e.g.
	// "scopez". Keys that are not plain words are quoted:
	// `oauth2-configuration["allowedproviders "]`.
	Path string
	// Message states the rule, e.g. `must be at most 100 characters (is 120)`.
	Message string
}

// String returns "path: message", or the message alone for the document.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error lists the problems in order of their paths, at most ten of them.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid xs-security.json")
	for i, p := range e.Problems {
		if i == maxListedProblems {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-i)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// newValidationError sorts problems by path (indexes numerically) and message.
func newValidationError(problems ...Problem) *ValidationError {
	slices.SortStableFunc(problems, func(a, b Problem) int {
		if c := comparePaths(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return &ValidationError{Problems: slices.Compact(problems)}
}

// Parse validates data against the embedded JSON schema
// (xsuaa.SecuritySchema), decodes it into a Descriptor, and runs the
// semantic checks a schema cannot express: unique names, references to
// declared scopes, attributes and role templates, well-formed variables,
// and the limit on granting scopes. It reports every problem it finds at
// once; the semantic checks are skipped only when a value has the wrong
// JSON type. Every error is a *ValidationError.
func Parse(data []byte) (*Descriptor, error) {
	if len(data) > MaxDescriptorSize {
		return nil, newValidationError(Problem{Message: fmt.Sprintf(
			"the descriptor is %d bytes; at most %d bytes (1 MiB) are allowed", len(data), MaxDescriptorSize)})
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if err := CheckJSON(data); err != nil {
		return nil, newValidationError(Problem{Message: err.Error()})
	}
	doc, syntax := decodeDocument(data)
	if syntax != nil {
		return nil, newValidationError(*syntax)
	}
	problems := duplicateKeys(data)
	cs := securitySchema()
	err := cs.schema.Validate(doc)
	if err != nil {
		problems = append(problems, cs.problems(doc, err)...)
	}
	if _, isObject := doc.(map[string]any); !isObject {
		return nil, newValidationError(problems...)
	}
	var d Descriptor
	if decodeErr := json.Unmarshal(data, &d); decodeErr != nil {
		if err == nil {
			problems = append(problems, decodeProblem(decodeErr))
		}
		return nil, newValidationError(problems...)
	}
	problems = appendUnlessPathKnown(problems, checkDescriptor(&d))
	if len(problems) > 0 {
		return nil, newValidationError(problems...)
	}
	return &d, nil
}

// appendUnlessPathKnown appends the problems of more whose paths have no
// problem in problems yet, so that a value breaking a schema rule is not
// reported again by a semantic check.
func appendUnlessPathKnown(problems, more []Problem) []Problem {
	known := make(map[string]bool, len(problems))
	for _, p := range problems {
		known[p.Path] = true
	}
	for _, p := range more {
		if !known[p.Path] {
			problems = append(problems, p)
		}
	}
	return problems
}

// ScopeLocalName returns x for "$XSAPPNAME.x", and ok=false for any other
// form: plain names, references to other applications, and "$XSAPPNAME."
// with nothing after the dot.
func ScopeLocalName(name string) (local string, ok bool) {
	local, ok = strings.CutPrefix(name, variableXSAppName+".")
	if !ok || local == "" {
		return "", false
	}
	return local, true
}

// ---- JSON decoding ----

// decodeDocument decodes data as one JSON value, with numbers as
// json.Number. It returns a Problem for malformed JSON and trailing data.
func decodeDocument(data []byte) (any, *Problem) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		p := syntaxProblem(data, err)
		return nil, &p
	}
	if rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		off := len(data) - len(rest)
		return nil, &Problem{Message: "malformed JSON: unexpected data after the top-level value at " + position(data, off)}
	}
	return doc, nil
}

// syntaxProblem describes a decoding error, with its position if known.
func syntaxProblem(data []byte, err error) Problem {
	var syntax *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return Problem{Message: "the descriptor is empty; expected a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Problem{Message: "malformed JSON: unexpected end of input at " + position(data, len(data))}
	case errors.As(err, &syntax):
		// Offset counts the bytes read up to and including the bad one.
		return Problem{Message: fmt.Sprintf("malformed JSON at %s: %s", position(data, int(syntax.Offset)-1), syntax.Error())}
	}
	return Problem{Message: "malformed JSON: " + err.Error()}
}

// position renders a byte offset as "line L, column C (byte N)", with
// lines and columns counted from 1 and bytes from 0.
func position(data []byte, offset int) string {
	offset = min(max(offset, 0), len(data))
	before := data[:offset]
	line := 1 + bytes.Count(before, []byte("\n"))
	column := offset - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d (byte %d)", line, column, offset)
}

// duplicateKeys reports every key that appears twice in one object of
// data, which must be valid JSON.
func duplicateKeys(data []byte) []Problem {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var problems []Problem
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := tok.(string)
				child := joinKey(path, key)
				if seen[key] {
					problems = append(problems, Problem{Path: child, Message: fmt.Sprintf("duplicate field %q", key)})
				}
				seen[key] = true
				if err := walk(child); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(joinIndex(path, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	if err := walk(""); err != nil {
		return []Problem{syntaxProblem(data, err)}
	}
	return problems
}

// decodeProblem describes an error of decoding a schema-valid document
// into a Descriptor: in practice, an integer written as 3600.0 or 36e2.
func decodeProblem(err error) Problem {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		msg := "cannot be decoded: " + err.Error()
		if k := typeErr.Type.Kind(); k >= reflect.Int && k <= reflect.Int64 {
			msg = fmt.Sprintf("must be written as a whole number without a fraction or exponent (is %s)",
				strings.TrimPrefix(typeErr.Value, "number "))
		}
		return Problem{Path: typeErr.Field, Message: msg}
	}
	return Problem{Message: "cannot be decoded: " + err.Error()}
}

// ---- paths ----

// joinKey appends an object key to a path: "a.key", or `a["odd key"]` for
// keys that are not plain words.
func joinKey(path, key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool {
		return !(isASCIILetter(r) || isDigit(r) || r == '_' || r == '-' || r == '$')
	}) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinIndex appends an array index to a path: "a[2]".
func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// locate follows a schema error's instance location through doc and
// returns its path and the value found there.
func locate(doc any, location []string) (path string, value any) {
	value = doc
	for _, seg := range location {
		switch v := value.(type) {
		case []any:
			i, err := strconv.Atoi(seg)
			if err == nil && i >= 0 && i < len(v) {
				path, value = joinIndex(path, i), v[i]
				continue
			}
			path, value = path+"["+seg+"]", nil
		case map[string]any:
			path, value = joinKey(path, seg), v[seg]
		default:
			path, value = joinKey(path, seg), nil
		}
	}
	return path, value
}

// comparePaths orders paths bytewise, except that runs of digits compare
// numerically, so that "scopes[2]" sorts before "scopes[10]".
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		if isDigit(rune(a[0])) && isDigit(rune(b[0])) {
			na, nb := leadingDigits(a), leadingDigits(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if c := cmp.Or(cmp.Compare(len(ta), len(tb)), strings.Compare(ta, tb), strings.Compare(na, nb)); c != 0 {
				return c
			}
			a, b = a[len(na):], b[len(nb):]
			continue
		}
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && isDigit(rune(s[i])) {
		i++
	}
	return s[:i]
}

func isDigit(r rune) bool       { return '0' <= r && r <= '9' }
func isASCIILetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// ---- the schema ----

// compiledSchema is the embedded schema, compiled, with what error
// messages need to know about it.
type compiledSchema struct {
	schema *jsonschema.Schema
	// fields maps the JSON pointer of each object schema to the names of
	// its properties, in the order the schema declares them.
	fields map[string][]string
}

// schemaURL is the $id of the embedded schema.
const schemaURL = "https://raw.githubusercontent.com/openxsuaa/xsuaa/main/xs-security.schema.json"

// securitySchema compiles the embedded schema on first use. The schema is
// part of the build, so failing to compile it is a bug and panics.
var securitySchema = sync.OnceValue(func() *compiledSchema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(xsuaa.SecuritySchema))
	if err != nil {
		panic("scopes: embedded xs-security.schema.json: " + err.Error())
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		panic("scopes: embedded xs-security.schema.json: " + err.Error())
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		panic("scopes: embedded xs-security.schema.json: " + err.Error())
	}
	fields, err := propertyOrder(xsuaa.SecuritySchema)
	if err != nil {
		panic("scopes: embedded xs-security.schema.json: " + err.Error())
	}
	return &compiledSchema{schema: sch, fields: fields}
})

// propertyOrder maps the JSON pointer of every schema object in schema
// that has "properties" to the property names in declaration order.
func propertyOrder(schema []byte) (map[string][]string, error) {
	dec := json.NewDecoder(bytes.NewReader(schema))
	out := map[string][]string{}
	// walk reads one value at ptr and returns its keys if it is an object.
	var walk func(ptr string) ([]string, error)
	walk = func(ptr string) ([]string, error) {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var keys []string
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := tok.(string)
				keys = append(keys, key)
				sub, err := walk(ptr + "/" + escapePointer(key))
				if err != nil {
					return nil, err
				}
				if key == "properties" {
					out[ptr] = sub
				}
			}
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if _, err := walk(ptr + "/" + strconv.Itoa(i)); err != nil {
					return nil, err
				}
			}
		default:
			return nil, nil
		}
		_, err = dec.Token()
		return keys, err
	}
	_, err := walk("")
	return out, err
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// pointerOf returns the JSON pointer in a schema location URL.
func pointerOf(location string) string {
	_, frag, _ := strings.Cut(location, "#")
	if p, err := url.PathUnescape(frag); err == nil {
		return p
	}
	return frag
}

// problems turns the jsonschema library's error tree into Problems, one per
// leaf (and one per unknown or missing field).
func (cs *compiledSchema) problems(doc any, err error) []Problem {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []Problem{{Message: err.Error()}}
	}
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, cs.leafProblems(doc, e)...)
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	return out
}

// leafProblems translates one leaf of the error tree.
func (cs *compiledSchema) leafProblems(doc any, e *jsonschema.ValidationError) []Problem {
	path, value := locate(doc, e.InstanceLocation)
	one := func(format string, args ...any) []Problem {
		return []Problem{{Path: path, Message: fmt.Sprintf(format, args...)}}
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		allowed := cs.fields[pointerOf(e.SchemaURL)]
		var out []Problem
		for _, name := range k.Properties {
			out = append(out, Problem{Path: joinKey(path, name), Message: unknownFieldMessage(name, allowed)})
		}
		return out
	case *kind.Required:
		var out []Problem
		for _, name := range k.Missing {
			out = append(out, Problem{Path: path, Message: fmt.Sprintf("missing required field %q", name)})
		}
		return out
	case *kind.Type:
		return one("%s", typeMessage(path, k.Want, value))
	case *kind.Enum:
		return one("must be one of %s (is %s)", displayList(k.Want), display(k.Got))
	case *kind.Const:
		return one("must be %s (is %s)", display(k.Want), display(k.Got))
	case *kind.Pattern:
		return one("%s", patternMessage(k.Want, k.Got))
	case *kind.MinLength:
		if k.Want == 1 {
			return one("must not be empty")
		}
		return one("must be at least %d characters (is %d)", k.Want, k.Got)
	case *kind.MaxLength:
		return one("must be at most %d characters (is %d)", k.Want, k.Got)
	case *kind.Minimum:
		return one("must be at least %s (is %s)", ratString(k.Want), display(value))
	case *kind.Maximum:
		return one("must be at most %s (is %s)", ratString(k.Want), display(value))
	case *kind.ExclusiveMinimum:
		return one("must be greater than %s (is %s)", ratString(k.Want), display(value))
	case *kind.ExclusiveMaximum:
		return one("must be less than %s (is %s)", ratString(k.Want), display(value))
	case *kind.MinItems:
		if k.Want == 1 {
			return one("must not be empty")
		}
		return one("must have at least %d entries (has %d)", k.Want, k.Got)
	case *kind.MaxItems:
		return one("must have at most %d entries (has %d)", k.Want, k.Got)
	case *kind.UniqueItems:
		first, second := k.Duplicates[0], k.Duplicates[1]
		var dup any
		if arr, ok := value.([]any); ok && second < len(arr) {
			dup = arr[second]
		}
		return []Problem{{Path: joinIndex(path, second), Message: fmt.Sprintf("duplicate entry %s (same as [%d])", display(dup), first)}}
	}
	return one("%s", e.ErrorKind.LocalizedString(message.NewPrinter(language.English)))
}

// unknownFieldMessage names an unknown field, suggests the field it
// probably misspells, and lists the allowed ones.
func unknownFieldMessage(name string, allowed []string) string {
	msg := fmt.Sprintf("unknown field %q", name)
	for _, a := range allowed {
		if normalizeFieldName(a) == normalizeFieldName(name) {
			msg += fmt.Sprintf(" (did you mean %q?)", a)
			break
		}
	}
	if len(allowed) > 0 {
		msg += "; allowed fields are: " + strings.Join(allowed, ", ")
	}
	return msg
}

// normalizeFieldName folds case and drops spaces, dashes and underscores,
// so that "scopeReferences" and "scope-references " compare equal.
func normalizeFieldName(s string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s))
}

// typeMessage says which JSON types are expected and which one was found.
func typeMessage(path string, want []string, value any) string {
	if n, ok := value.(json.Number); ok && slices.Contains(want, "integer") {
		return fmt.Sprintf("must be a whole number, not %s", n)
	}
	nouns := make([]string, len(want))
	for i, w := range want {
		nouns[i] = typeNoun(w)
	}
	msg := fmt.Sprintf("must be %s, not %s", strings.Join(nouns, " or "), typeNoun(jsonTypeName(value)))
	if path == "" {
		msg = "the descriptor " + msg
	}
	return msg
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func typeNoun(t string) string {
	switch t {
	case "null":
		return "null"
	case "integer", "object", "array":
		return "an " + t
	}
	return "a " + t
}

// display renders a JSON value for a message, shortening long strings.
func display(v any) string {
	switch v := v.(type) {
	case string:
		const maxRunes = 60
		if r := []rune(v); len(r) > maxRunes {
			return strconv.Quote(string(r[:maxRunes])) + "…"
		}
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprint(v)
}

func displayList(vs []any) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = display(v)
	}
	return strings.Join(s, ", ")
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(3)
}

// ---- pattern messages ----

// patternRule explains a schema pattern in words. If allowed is set, the
// message also names the characters of the value it does not allow.
type patternRule struct {
	explain string
	allowed func(rune) bool
}

// patternRuleFor explains a pattern of xs-security.schema.json. A test
// checks that every pattern of the schema has an explanation.
func patternRuleFor(pattern string) (patternRule, bool) {
	switch pattern {
	case `^[A-Za-z0-9_\-/\\]+$`:
		return patternRule{
			explain: `may only contain letters, digits and the characters - _ / \`,
			allowed: isAppNameRune,
		}, true
	case `^[A-Za-z0-9_]+$`:
		return patternRule{
			explain: "may only contain letters, digits and _",
			allowed: func(r rune) bool { return isASCIILetter(r) || isDigit(r) || r == '_' },
		}, true
	case `^[A-Za-z0-9._-]+$`:
		return patternRule{
			explain: "may only contain letters, digits and the characters . - _",
			allowed: func(r rune) bool { return isASCIILetter(r) || isDigit(r) || strings.ContainsRune("._-", r) },
		}, true
	case `^(\$[A-Za-z_]+(\([^()]*\))?(\.[A-Za-z0-9_\-/\\:]+)+|[A-Za-z0-9_\-/\\:]+(\.[A-Za-z0-9_\-/\\:]+)*)$`:
		return patternRule{
			explain: `must be a scope name such as $XSAPPNAME.Read, $XSAPPNAME(application,<app>).Read or uaa.user: ` +
				`dot-separated parts made of letters, digits and the characters - _ / \ :`,
			allowed: isReferenceRune,
		}, true
	case `^(\$[A-Za-z_]+(\([^()]*\))?(\.[A-Za-z0-9_\-/\\:]+)*|[A-Za-z0-9_\-/\\:]+(\.[A-Za-z0-9_\-/\\:]+)*)$`:
		return patternRule{
			explain: `must be a scope name such as $XSAPPNAME.Read, $XSAPPNAME(application,<app>).Read or uaa.user, ` +
				`or a variable such as $ACCEPT_GRANTED_AUTHORITIES: dot-separated parts made of letters, digits and the characters - _ / \ :`,
			allowed: isReferenceRune,
		}, true
	case `^(\$[A-Za-z_]+\([^()]*\)|[A-Za-z0-9_\-/\\]+)$`:
		return patternRule{
			explain: `must name an application: $XSAPPNAME(<plan>,<xsappname>), $XSAPPNAME(<plan>,<zone>,<xsappname>), ` +
				`$XSSERVICENAME(<instance>), or a plain xsappname made of letters, digits and the characters - _ / \`,
			allowed: isReferenceRune,
		}, true
	case `^\$[A-Za-z_]+(\([^()]*\))?\.[A-Za-z0-9._-]+$`:
		return patternRule{
			explain: "must name a role template: $XSAPPNAME.<template>, $XSAPPNAME(application,<app>).<template> " +
				"or $XSSERVICENAME(<instance>).<template>, the template name made of letters, digits and . - _",
			allowed: isReferenceRune,
		}, true
	}
	return patternRule{}, false
}

func isAppNameRune(r rune) bool {
	return isASCIILetter(r) || isDigit(r) || strings.ContainsRune(`_-/\`, r)
}

// isReferenceRune reports whether r may appear somewhere in a scope, app or
// role template reference, variables included.
func isReferenceRune(r rune) bool {
	return isAppNameRune(r) || strings.ContainsRune(`:.$(),`, r)
}

// patternMessage explains why got does not match pattern.
func patternMessage(pattern, got string) string {
	if got == "" {
		return "must not be empty"
	}
	rule, ok := patternRuleFor(pattern)
	if !ok {
		return fmt.Sprintf("must match the pattern %s (is %s)", pattern, display(got))
	}
	if strings.HasPrefix(got, ".") {
		return rule.explain + " (must not start with a dot)"
	}
	if rule.allowed != nil {
		var bad []string
		for _, r := range got {
			if q := strconv.Quote(string(r)); !rule.allowed(r) && !slices.Contains(bad, q) {
				bad = append(bad, q)
			}
		}
		if len(bad) > 0 {
			return rule.explain + " (found " + strings.Join(bad, ", ") + ")"
		}
	}
	return fmt.Sprintf("%s (is %s)", rule.explain, display(got))
}

// ---- semantic checks ----

// refKind is where a reference appears, which decides the forms it may take.
type refKind int

const (
	refScope        refKind = iota // scopes[].name
	refScopeRef                    // role-templates[].scope-references[]
	refAuthority                   // authorities[]
	refForeignScope                // foreign-scope-references[]
	refApp                         // granted-apps[], grant-as-authority-to-apps[]
	refRoleTemplate                // role-collections[].role-template-references[]
)

// descriptorChecker collects the problems of the semantic checks.
type descriptorChecker struct {
	problems []Problem
}

func (c *descriptorChecker) addf(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// checkDescriptor runs the checks the schema cannot express.
func checkDescriptor(d *Descriptor) []Problem {
	c := &descriptorChecker{}
	scopes := c.uniqueNames("scope", "scopes", len(d.Scopes), func(i int) string { return d.Scopes[i].Name })
	attributes := c.uniqueNames("attribute", "attributes", len(d.Attributes), func(i int) string { return d.Attributes[i].Name })
	templates := c.uniqueNames("role template", "role-templates", len(d.RoleTemplates), func(i int) string { return d.RoleTemplates[i].Name })
	c.uniqueNames("role collection", "role-collections", len(d.RoleCollections), func(i int) string { return d.RoleCollections[i].Name })

	granting := 0
	for i, s := range d.Scopes {
		path := fmt.Sprintf("scopes[%d]", i)
		c.reference(path+".name", s.Name, refScope)
		for j, app := range s.GrantedApps {
			c.reference(fmt.Sprintf("%s.granted-apps[%d]", path, j), app, refApp)
		}
		for j, app := range s.GrantAsAuthorityToApps {
			c.reference(fmt.Sprintf("%s.grant-as-authority-to-apps[%d]", path, j), app, refApp)
		}
		if len(s.GrantedApps) > 0 || len(s.GrantAsAuthorityToApps) > 0 {
			granting++
		}
	}
	if granting > maxGrantingScopes {
		c.addf("scopes", "at most %d scopes may use granted-apps or grant-as-authority-to-apps (%d do)", maxGrantingScopes, granting)
	}
	for i, rt := range d.RoleTemplates {
		path := fmt.Sprintf("role-templates[%d]", i)
		for j, ref := range rt.ScopeReferences {
			p := fmt.Sprintf("%s.scope-references[%d]", path, j)
			if c.reference(p, ref, refScopeRef) {
				c.declaredScope(p, ref, scopes)
			}
		}
		for j, ref := range rt.AttributeReferences {
			if !attributes[ref.Name] {
				c.addf(fmt.Sprintf("%s.attribute-references[%d]", path, j), "attribute %q is not declared in attributes", ref.Name)
			}
		}
	}
	for i, rc := range d.RoleCollections {
		for j, ref := range rc.RoleTemplateReferences {
			p := fmt.Sprintf("role-collections[%d].role-template-references[%d]", i, j)
			if !c.reference(p, ref, refRoleTemplate) {
				continue
			}
			if name, ok := ScopeLocalName(ref); ok && !templates[name] {
				c.addf(p, "role template %q is not declared in role-templates", name)
			}
		}
	}
	for i, a := range d.Authorities {
		p := fmt.Sprintf("authorities[%d]", i)
		if c.reference(p, a, refAuthority) {
			c.declaredScope(p, a, scopes)
		}
	}
	for i, f := range d.ForeignScopeReferences {
		c.reference(fmt.Sprintf("foreign-scope-references[%d]", i), f, refForeignScope)
	}
	if oc := d.OAuth2Configuration; oc != nil {
		if len(oc.RedirectURIs) > maxRedirectURIs {
			c.addf("oauth2-configuration.redirect-uris", "at most %d redirect URIs are allowed (%d given)", maxRedirectURIs, len(oc.RedirectURIs))
		}
		for i, u := range oc.RedirectURIs {
			if msg := redirectURIProblem(u); msg != "" {
				c.addf(fmt.Sprintf("oauth2-configuration.redirect-uris[%d]", i), "malformed redirect URI: %s", msg)
			}
		}
		for i, gt := range oc.GrantTypes {
			if msg := grantTypeProblem(gt); msg != "" {
				c.addf(fmt.Sprintf("oauth2-configuration.grant-types[%d]", i), "%s", msg)
			}
		}
	}
	return c.problems
}

// uniqueNames reports repeated names among n entries of the array at path
// and returns the set of names.
func (c *descriptorChecker) uniqueNames(what, path string, n int, name func(int) string) map[string]bool {
	first := make(map[string]int, n)
	for i := range n {
		nm := name(i)
		if nm == "" {
			continue // missing, which the schema reports
		}
		if j, dup := first[nm]; dup {
			c.addf(fmt.Sprintf("%s[%d].name", path, i), "duplicate %s name %q (also %s[%d].name)", what, nm, path, j)
			continue
		}
		first[nm] = i
	}
	set := make(map[string]bool, len(first))
	for nm := range first {
		set[nm] = true
	}
	return set
}

// declaredScope reports a "$XSAPPNAME.x" reference to a scope that scopes
// does not declare.
func (c *descriptorChecker) declaredScope(path, ref string, scopes map[string]bool) {
	if _, own := ScopeLocalName(ref); own && !scopes[ref] {
		c.addf(path, "scope %q is not declared in scopes", ref)
	}
}

// reference checks the variables in s, which appears at path as kind k,
// and reports whether s is well formed.
func (c *descriptorChecker) reference(path, s string, k refKind) bool {
	if msg := referenceProblem(s, k); msg != "" {
		c.addf(path, "%s", msg)
		return false
	}
	return true
}

// varRef is a reference that starts with a variable, split into parts:
// "$XSAPPNAME(application,billing).Read" has variable "$XSAPPNAME", args
// ["application" "billing"] and local name "Read".
type varRef struct {
	variable string
	args     []string // nil without parentheses
	local    string
	hasLocal bool
}

// splitVarRef splits s, which starts with "$", into its parts; ok is false
// if s is not of the form $NAME[(args)][.local].
func splitVarRef(s string) (v varRef, ok bool) {
	i := 1
	for i < len(s) && (isASCIILetter(rune(s[i])) || s[i] == '_') {
		i++
	}
	v.variable, s = s[:i], s[i:]
	if rest, found := strings.CutPrefix(s, "("); found {
		inner, after, closed := strings.Cut(rest, ")")
		if !closed {
			return v, false
		}
		v.args = strings.Split(inner, ",")
		for j := range v.args {
			v.args[j] = strings.TrimSpace(v.args[j])
		}
		s = after
	}
	if s == "" {
		return v, true
	}
	v.local, v.hasLocal = strings.CutPrefix(s, ".")
	return v, v.hasLocal
}

// referenceProblem returns what is wrong with the variables of s as a
// reference of kind k, or "" if nothing is. Strings without "$" are left
// to the schema.
func referenceProblem(s string, k refKind) string {
	if k == refScope && s != "" && !strings.Contains(s, "$") && s != UAAUser {
		// A plain name would claim the platform's scopes (uaa.admin,
		// cloud_controller.admin) or a name another tenant uses too.
		return fmt.Sprintf("a declared scope must be named $XSAPPNAME.<name>: %q has no $XSAPPNAME prefix, and of plain names only %s may be declared (for token exchange)", s, UAAUser)
	}
	if !strings.Contains(s, "$") {
		return ""
	}
	if !strings.HasPrefix(s, "$") {
		return fmt.Sprintf(`%q: "$" may only start a variable such as $XSAPPNAME`, s)
	}
	v, ok := splitVarRef(s)
	if !ok {
		return fmt.Sprintf("malformed variable reference %q; expected $VARIABLE, $VARIABLE(<arguments>) or either followed by .<name>", s)
	}
	switch v.variable {
	case variableAcceptAuthorities:
		return acceptProblem(s, v, k == refAuthority, "authorities")
	case variableAcceptScopes:
		return acceptProblem(s, v, k == refForeignScope, "foreign-scope-references")
	case variableXSAppName:
		if msg := xsAppNameArgsProblem(v.args); msg != "" {
			return msg
		}
		if k == refScope && v.args != nil {
			return fmt.Sprintf("a declared scope must be named $XSAPPNAME.<name>, not %q, which belongs to another application", s)
		}
	case variableXSServiceName:
		if len(v.args) != 1 || v.args[0] == "" || strings.ContainsAny(v.args[0], "$,") {
			return fmt.Sprintf("%s takes one argument, the name of a service instance: $XSSERVICENAME(<instance>)", variableXSServiceName)
		}
		if k == refScope {
			return fmt.Sprintf("a declared scope must be named $XSAPPNAME.<name>, not %q, which belongs to another service instance", s)
		}
	default:
		return fmt.Sprintf("unknown variable %q; the variables are %s, %s, %s and %s", v.variable,
			variableXSAppName, variableXSServiceName, variableAcceptAuthorities, variableAcceptScopes)
	}
	switch {
	case k == refApp && v.hasLocal:
		return fmt.Sprintf("must name an application, such as $XSAPPNAME(application,<xsappname>) or $XSSERVICENAME(<instance>), not %q", s)
	case k == refApp && v.args == nil:
		return fmt.Sprintf("%s alone names this application; name another one: $XSAPPNAME(<plan>,<xsappname>), $XSSERVICENAME(<instance>) or a plain xsappname", s)
	case k != refApp && (!v.hasLocal || v.local == ""):
		if k == refRoleTemplate {
			return fmt.Sprintf("must name a role template, such as %s.<template>, not %q", variableXSAppName, s)
		}
		return fmt.Sprintf("must name a scope, such as %s.<scope>, not %q", variableXSAppName, s)
	}
	return ""
}

// acceptProblem checks $ACCEPT_GRANTED_AUTHORITIES and $ACCEPT_GRANTED_SCOPES,
// which stand alone and only in their own list.
func acceptProblem(s string, v varRef, allowedHere bool, list string) string {
	if !allowedHere {
		return fmt.Sprintf("%s is only allowed in %s", v.variable, list)
	}
	if s != v.variable {
		return fmt.Sprintf("%s takes no arguments and no suffix; write it alone, not %q", v.variable, s)
	}
	return ""
}

// xsAppNameArgsProblem checks the arguments of $XSAPPNAME: none,
// (<plan>,<xsappname>) or (<plan>,<zone>,<xsappname>).
func xsAppNameArgsProblem(args []string) string {
	if args == nil {
		return ""
	}
	if len(args) != 2 && len(args) != 3 {
		return fmt.Sprintf("%s takes two or three arguments: (<plan>,<xsappname>) or (<plan>,<zone>,<xsappname>), not %d", variableXSAppName, len(args))
	}
	if plan := args[0]; plan != "application" && plan != "broker" {
		return fmt.Sprintf(`the plan in %s(<plan>,...) must be "application" or "broker", not %q`, variableXSAppName, plan)
	}
	for i, a := range args[1:] {
		if i == len(args)-2 && IsCloneRuntimeName(a) {
			continue // a clone, named by its runtime name
		}
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return !isAppNameRune(r) }) {
			return fmt.Sprintf(`the zone and xsappname in %s(...) may only contain letters, digits and the characters - _ / \, and must not be empty, or name a clone by its runtime name <id>!b<N>|<xsappname>!b<N> (found %q)`, variableXSAppName, a)
		}
	}
	return ""
}
