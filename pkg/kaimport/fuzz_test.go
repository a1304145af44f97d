package kaimport

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/seesawd/seesawd/pkg/config"
)

// FuzzImport feeds arbitrary text as keepalived.conf (and as a file it may
// include, so include cycles and deep nesting come up). Import must not
// panic or run away, must fail only with a *ParseError, and what it
// translates seesawd must accept: the importer never writes a file
// --check-config refuses.
func FuzzImport(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.conf*")
	more, _ := filepath.Glob("testdata/realworld/includes/*/*.conf")
	for _, s := range append(seeds, more...) {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(string(data))
		}
	}
	for _, s := range []string{
		"include inc.conf\n",
		"a {\n include inc.conf\n}\n",
		"$A=$A$A\n$A\n",
		"$M= \\\n x { \\\n $M\n$M\n",
		"@x y\n@^x z {\n}\n",
		"virtual_server_group G {\n 10.0.0.0/8 80\n}\nvirtual_server group G {\n real_server 10.0.0.1 80 {\n }\n}\n",
		"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n ::1\n 0.0.0.0/0\n }\n}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conf string) {
		fsys := fstest.MapFS{
			"k.conf":   &fstest.MapFile{Data: []byte(conf)},
			"inc.conf": &fstest.MapFile{Data: []byte(conf)},
		}
		res, err := Import(fsys, "k.conf", &Options{ConfigID: "x"})
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		if _, err := config.Parse(res.YAML); err != nil {
			t.Fatalf("seesawd refuses the translation: %v\n%s", err, res.YAML)
		}
	})
}
