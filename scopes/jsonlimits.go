package scopes

import "fmt"

// Bounds of every JSON document the server reads (descriptors, broker and
// clone bodies, binding parameters), checked in one pass over the bytes
// before anything is decoded, so that a document of an allowed size never
// costs more than a small amount of memory: a 1 MB descriptor of deeply
// nested objects, or of a hundred thousand invalid scopes, would otherwise
// cost the schema validator hundreds of megabytes to gigabytes of error
// paths. Real descriptors nest a handful of levels and hold a few
// thousand values.
const (
	MaxJSONDepth  = 32
	MaxJSONValues = 10000
)

// CheckJSONShape reports, without allocating, whether the arrays and
// objects of data nest deeper than maxDepth or data holds more than
// maxValues values (counted as the array and object openings and the
// commas between members, which is at least the values less one). It
// does not check the syntax (the decoder does); brackets and commas
// inside strings do not count.
func CheckJSONShape(data []byte, maxDepth, maxValues int) error {
	depth, values, inString, escaped := 0, 0, false, false
	for i, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > maxDepth {
				return fmt.Errorf("the JSON nests deeper than %d levels (at byte %d)", maxDepth, i)
			}
			values++
		case c == ',':
			values++
		case c == '}' || c == ']':
			depth--
		}
		if values > maxValues {
			return fmt.Errorf("the JSON holds more than %d values (at byte %d)", maxValues, i)
		}
	}
	return nil
}

// MaxParseAlloc bounds what Parse allocates for any descriptor within the
// limits (measured worst case about 18 MB: a 240 KB descriptor of 10,000
// invalid scope references; TestParseAllocationBounded and FuzzParse keep
// it).
const MaxParseAlloc = 32 << 20

// CheckJSON checks data against MaxJSONDepth and MaxJSONValues.
func CheckJSON(data []byte) error { return CheckJSONShape(data, MaxJSONDepth, MaxJSONValues) }
