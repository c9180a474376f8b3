package deploy_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// toolsRepo lays out a repository holding only scripts/tools.sh and scripts/progress.sh, so the
// script's .tools/bin is a temporary one, and a bin directory for fake commands.
func toolsRepo(t *testing.T) (root, bin string) {
	t.Helper()
	root, bin = t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tools.sh", "progress.sh"} {
		if err := os.WriteFile(filepath.Join(root, "scripts", f), []byte(readFile(t, "../scripts/"+f)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, bin
}

// fakeTemporal writes a temporal into dir that reports Server version server.
func fakeTemporal(t *testing.T, dir, server string) string {
	t.Helper()
	path := filepath.Join(dir, "temporal")
	script := "#!/bin/sh\necho 'temporal version 1.5.1 (Server " + server + ", UI 2.42.1)'\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// runTools runs the copied tools.sh with PATH = bin and the system directories (no go there, so
// any attempt to build fails with "go is required"), and DynamoDB Local pointed at a fake jar.
func runTools(t *testing.T, root, bin string, env ...string) (string, error) {
	t.Helper()
	jar := t.TempDir()
	if err := os.WriteFile(filepath.Join(jar, "DynamoDBLocal.jar"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts/tools.sh"))
	cmd.Env = append([]string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + t.TempDir(), "PCX_DYNAMODB_LOCAL_DIR=" + jar}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// pinnedServer is the Temporal Server version tools.sh expects `temporal --version` to report.
func pinnedServer(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^TEMPORAL_SERVER_VERSION=(\S+)`).FindStringSubmatch(readFile(t, "../scripts/tools.sh"))
	if m == nil {
		t.Fatal("scripts/tools.sh: no TEMPORAL_SERVER_VERSION=")
	}
	return m[1]
}

func TestToolsLinksThePinnedTemporalFromPath(t *testing.T) {
	root, bin := toolsRepo(t)
	onPath := fakeTemporal(t, bin, pinnedServer(t))
	out, err := runTools(t, root, bin)
	if err != nil {
		t.Fatalf("tools.sh: %v\n%s", err, out)
	}
	if want := "Temporal CLI: using " + onPath + ", the pinned version, from PATH"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	link := filepath.Join(root, ".tools/bin/temporal")
	if got, err := os.Readlink(link); err != nil || got != onPath {
		t.Errorf(".tools/bin/temporal: got link %q (%v), want a link to %s", got, err, onPath)
	}
	out, err = runTools(t, root, bin)
	if err != nil || !strings.Contains(out, "already installed ("+onPath+", linked as .tools/bin/temporal)") {
		t.Errorf("second run: %v, want it to keep the link:\n%s", err, out)
	}
}

func TestToolsBuildsWhenTheTemporalOnPathIsAnotherVersion(t *testing.T) {
	root, bin := toolsRepo(t)
	fakeTemporal(t, bin, "1.28.0")
	out, err := runTools(t, root, bin)
	// No go on PATH: reaching the build is the failure that shows the other version was refused.
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(out, "tools: go is required") {
		t.Errorf("got %v, want the go install path (tools: go is required):\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(root, ".tools/bin/temporal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".tools/bin/temporal exists (%v); a temporal of another version must not be linked", err)
	}
}

func TestToolsHonoursPCXTemporalBin(t *testing.T) {
	root, bin := toolsRepo(t)
	fakeTemporal(t, bin, pinnedServer(t))
	elsewhere := fakeTemporal(t, t.TempDir(), "1.28.0") // the override is taken as given
	out, err := runTools(t, root, bin, "PCX_TEMPORAL_BIN="+elsewhere)
	if err != nil || !strings.Contains(out, "Temporal CLI: using PCX_TEMPORAL_BIN="+elsewhere) {
		t.Errorf("got %v, want PCX_TEMPORAL_BIN used:\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(root, ".tools/bin/temporal")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".tools/bin/temporal exists (%v), want nothing installed beside PCX_TEMPORAL_BIN", err)
	}
}

// A long step prints how long it has been running at each interval and keeps its exit status.
func TestProgressLinesAndStatus(t *testing.T) {
	cmd := exec.Command("bash", "-c", `source ../scripts/progress.sh
with_progress "building x" sh -c 'sleep 2.6; exit 3'
echo "status $?"`)
	cmd.Env = append(os.Environ(), "PCX_PROGRESS_SECONDS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// A loaded machine may print one line more or less: the lines count up by the interval, and
	// the status is the step's.
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) < 2 || lines[len(lines)-1] != "status 3" || lines[0] != "    still building x… 1s" {
		t.Fatalf("got %q, want progress lines from 1s, then status 3", out)
	}
	last := 0
	for i, l := range lines[:len(lines)-1] {
		var n int
		if _, err := fmt.Sscanf(l, "    still building x… %ds", &n); err != nil || n <= last {
			t.Errorf("line %d = %q, want \"still building x… Ns\" with N counting up", i, l)
		}
		last = n
	}
}
