package scopes

import "fmt"

// CheckUpdate reports the changes from old to next that XSUAA refuses on
// an update (reference: "compatible changes in the security descriptor"):
// the xsappname cannot change; an attribute keeps its valueType and its
// valueRequired cannot go from false to true; a role template can only drop
// attribute references, not add them or change their default values.
// Scopes, attributes and role templates may be added and removed freely.
// Errors are *ValidationError with paths in next.
func CheckUpdate(old, next *Descriptor) error {
	var problems []Problem
	fail := func(path, format string, args ...any) {
		problems = append(problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if old.XSAppName != next.XSAppName {
		fail("xsappname", "cannot change from %q to %q: the xsappname of an instance is immutable", old.XSAppName, next.XSAppName)
	}
	oldAttrs := map[string]Attribute{}
	for _, a := range old.Attributes {
		oldAttrs[a.Name] = a
	}
	for i, a := range next.Attributes {
		prev, ok := oldAttrs[a.Name]
		if !ok {
			continue
		}
		if normalizeValueType(prev.ValueType) != normalizeValueType(a.ValueType) {
			fail(fmt.Sprintf("attributes[%d].valueType", i), "cannot change from %q to %q for the existing attribute %q", prev.ValueType, a.ValueType, a.Name)
		}
		if !valueRequired(prev) && valueRequired(a) {
			fail(fmt.Sprintf("attributes[%d].valueRequired", i), "cannot change from false to true for the existing attribute %q", a.Name)
		}
	}
	oldTemplates := map[string]RoleTemplate{}
	for _, rt := range old.RoleTemplates {
		oldTemplates[rt.Name] = rt
	}
	for i, rt := range next.RoleTemplates {
		prev, ok := oldTemplates[rt.Name]
		if !ok {
			continue
		}
		prevRefs := map[string]AttributeReference{}
		for _, ar := range prev.AttributeReferences {
			prevRefs[ar.Name] = ar
		}
		for j, ar := range rt.AttributeReferences {
			p, ok := prevRefs[ar.Name]
			path := fmt.Sprintf("role-templates[%d].attribute-references[%d]", i, j)
			switch {
			case !ok:
				fail(path, "cannot add the attribute reference %q to the existing role template %q; attribute references can only be removed", ar.Name, rt.Name)
			case fmt.Sprint(p.DefaultValues) != fmt.Sprint(ar.DefaultValues):
				fail(path+".default-values", "cannot change the default values of %q in the existing role template %q", ar.Name, rt.Name)
			}
		}
	}
	if len(problems) > 0 {
		return newValidationError(problems...)
	}
	return nil
}

func normalizeValueType(t string) string {
	if t == "s" {
		return "string"
	}
	return t
}

func valueRequired(a Attribute) bool { return a.ValueRequired == nil || *a.ValueRequired }
