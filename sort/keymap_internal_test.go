package sort

import (
	"regexp/syntax"
	"testing"
)

// The bound taken from a pattern's parse tree is never below what it
// compiles to, and not far above: a pattern under the limit is never past
// it compiled, and one well under it is not refused.
func TestProgramBoundIsABound(t *testing.T) {
	for _, pattern := range []string{
		`^class_a/img_000123\.jpg$`, `(?:ab|cd|ef){5}`, `x{2,5}`, `(a|b)*c+d?`, `[a-z]{3,}`, `(?i)abcdef`, `\pL+`,
		`(?:(?:a{3}){4}){5}`, `(?:ab|cd|ef|gh|ij|kl|mn|op){10,20}`, `^(x|y|z)?(\d{2,4})-(?:foo|bar)*$`, `a{0,7}`, `(?:)`, `.*`,
		`(?:a+){3,}`, `(?:a*)*`, `(a){5}`, `x{0}`, `x{0,}`, `(?:a|)b`, `[^a]`, `\b\B`, `(?:(?:ab){2,}){2,3}`, `(?:x{2}|y{3}){4}`,
		`[a-z]{1000}[0-9]{1000}[A-Z]{1000}`,
	} {
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := syntax.Compile(re.Simplify())
		if err != nil {
			t.Fatal(err)
		}
		bound, _ := programSize(pattern)
		if bound < len(prog.Inst) || bound > 2*len(prog.Inst)+4 {
			t.Errorf("%s: bound %d, compiled to %d instructions", pattern, bound, len(prog.Inst))
		}
	}
	// Past the limit, the bound says so without building anything.
	if bound, _ := programSize(`(?:ab|cd|ef|gh|ij|kl|mn|op){1000}`); bound != maxPatternProgram+1 {
		t.Errorf("a pattern far past the limit: bound %d, want %d", bound, maxPatternProgram+1)
	}
}
