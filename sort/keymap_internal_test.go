package sort

import (
	"regexp/syntax"
	"testing"
)

// The bound taken from a pattern's parse tree is never below what it
// compiles to: a pattern under the limit is never past it compiled.
func TestProgramBoundIsABound(t *testing.T) {
	for _, pattern := range []string{
		`^class_a/img_000123\.jpg$`, `(?:ab|cd|ef){5}`, `x{2,5}`, `(a|b)*c+d?`, `[a-z]{3,}`, `(?i)abcdef`, `\pL+`,
		`(?:(?:a{3}){4}){5}`, `(?:ab|cd|ef|gh|ij|kl|mn|op){10,20}`, `^(x|y|z)?(\d{2,4})-(?:foo|bar)*$`, `a{0,7}`, `(?:)`, `.*`,
	} {
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := syntax.Compile(re.Simplify())
		if err != nil {
			t.Fatal(err)
		}
		if bound, _ := programSize(pattern); bound < len(prog.Inst) || programBound(re, 1<<30)+3 != bound {
			t.Errorf("%s: bound %d, compiled to %d instructions", pattern, bound, len(prog.Inst))
		}
	}
}
