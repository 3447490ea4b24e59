package sqlstore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var placeholder = regexp.MustCompile(`\$(\d+)`)

// TestPlaceholderOrder pins what lets one SQL text serve both drivers:
// go-sqlite3 binds $n by order of first appearance, PostgreSQL by number,
// so in every statement of this package the placeholders must first
// appear as $1, $2, $3, … in that order (a later reuse of an earlier one
// is fine).
func TestPlaceholderOrder(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !placeholder.MatchString(s) {
				return true
			}
			checked++
			seen := map[int]bool{}
			next := 1
			for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
				n, _ := strconv.Atoi(m[1])
				if seen[n] {
					continue
				}
				if n != next {
					t.Errorf("%s: placeholder $%d appears first where $%d is due: %q", fset.Position(lit.Pos()), n, next, s)
					break
				}
				seen[n] = true
				next++
			}
			return true
		})
	}
	if checked < 20 {
		t.Errorf("checked only %d statements; the test no longer finds the SQL", checked)
	}
}

// TestDDLTranslation pins how migrations written in SQLite's words read
// in PostgreSQL's.
func TestDDLTranslation(t *testing.T) {
	tests := []struct{ in, sqlite, postgres string }{
		{"created_at INTEGER NOT NULL", "created_at INTEGER NOT NULL", "created_at BIGINT NOT NULL"},
		{"secret_hash BLOB NOT NULL", "secret_hash BLOB NOT NULL", "secret_hash BYTEA NOT NULL"},
		{"context BLOB NOT NULL DEFAULT x''", "context BLOB NOT NULL DEFAULT x''", `context BYTEA NOT NULL DEFAULT '\x'::bytea`},
		{"integer_count TEXT, BLOBS TEXT", "integer_count TEXT, BLOBS TEXT", "integer_count TEXT, BLOBS TEXT"},
	}
	for _, tc := range tests {
		if got := sqlite.ddl(tc.in); got != tc.sqlite {
			t.Errorf("sqlite.ddl(%q) = %q, want %q", tc.in, got, tc.sqlite)
		}
		if got := postgres.ddl(tc.in); got != tc.postgres {
			t.Errorf("postgres.ddl(%q) = %q, want %q", tc.in, got, tc.postgres)
		}
	}
}
