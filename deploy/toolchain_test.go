package deploy_test

import (
	"os"
	"regexp"
	"strings"
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

// Every base image of the Dockerfile is pinned: golang to the exact Go of go.mod's toolchain line,
// any other image to an exact version, and distroless, which publishes no version tags, to its
// Debian release and the nonroot tag (the release pipeline adds the digests). Never latest, never
// a bare major like golang:1.27.
func TestDockerfileBaseImagesPinned(t *testing.T) {
	toolchain := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindStringSubmatch(readFile(t, "../go.mod"))
	if toolchain == nil {
		t.Fatal("go.mod has no toolchain line")
	}
	exact := regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[a-z0-9.]+)?$`)
	stages := parseDockerfile(t, readFile(t, dockerfilePath))
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	named := map[string]bool{}
	for _, st := range stages {
		if named[st.from] { // FROM an earlier stage of this file
			continue
		}
		named[st.name] = true
		ref, digest, _ := strings.Cut(st.from, "@")
		repo, tag := splitImage(ref)
		if digest != "" && !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(digest) {
			t.Errorf("FROM %s: digest %q is not sha256:<64 hex>", st.from, digest)
		}
		switch {
		case tag == "" || tag == "latest":
			t.Errorf("FROM %s: want an exact version tag, not %q", st.from, tag)
		case repo == "golang":
			if v, _, _ := strings.Cut(tag, "-"); v != toolchain[1] || !exact.MatchString(tag) {
				t.Errorf("FROM %s: want golang:%s-<debian release>, the toolchain of go.mod", st.from, toolchain[1])
			}
		case strings.HasPrefix(repo, "gcr.io/distroless/"):
			if !regexp.MustCompile(`-debian\d+$`).MatchString(repo) || tag != "nonroot" {
				t.Errorf("FROM %s: want a distroless image of a named Debian release (…-debian12:nonroot)", st.from)
			}
		case !exact.MatchString(tag):
			t.Errorf("FROM %s: tag %q is not an exact version (major.minor.patch)", st.from, tag)
		}
	}
	if raw := readFile(t, dockerfilePath); !strings.Contains(raw, "docker buildx imagetools inspect") {
		t.Error("Dockerfile: the comment on how the release pipeline adds the digests is gone")
	}
}
