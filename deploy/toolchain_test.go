package deploy_test

import (
	"os"
	"regexp"
	"testing"
)

// go.mod pins the toolchain the Makefile and CI build with, so `go run ./cmd/pcxctl` on a machine
// with an older Go switches to it instead of building with a standard library govulncheck flags.
func TestGoToolchainPinned(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`(?m)^toolchain (go\S+)$`).FindSubmatch(mod)
	built := regexp.MustCompile(`(?m)^export GOTOOLCHAIN := (go\S+)$`).FindSubmatch(mk)
	if pinned == nil || built == nil || string(pinned[1]) != string(built[1]) {
		t.Fatalf("go.mod toolchain %q, Makefile GOTOOLCHAIN %q: want both set and equal", pinned, built)
	}
}
