package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadYAML feeds arbitrary bytes to the file layer of Load. Whatever
// the input, Load must not panic; when it fails the message must carry the
// package prefix, and when it succeeds the result must be valid.
func FuzzLoadYAML(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := load("fuzz.yaml", src, nil, nil)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "strata: config: ") && !strings.HasPrefix(err.Error(), "strata: config: fuzz.yaml: ") {
					t.Fatalf("error line %q lacks the \"strata: config: \" prefix", line)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("load succeeded with an invalid config: %v", err)
		}
	})
}
