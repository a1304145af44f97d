package kaimport

import (
	"os"
	"testing"

	"github.com/seesawd/seesawd/pkg/config"
)

// BenchmarkImport translates the largest hand-written configuration and
// validates the result, as seesawctl import-keepalived --check does.
func BenchmarkImport(b *testing.B) {
	fsys := os.DirFS("testdata")
	for b.Loop() {
		res, err := Import(fsys, "realworld/lvs-nat-pair.conf", nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := config.Parse(res.YAML); err != nil {
			b.Fatal(err)
		}
	}
}
